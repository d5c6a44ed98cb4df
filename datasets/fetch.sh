#!/usr/bin/env bash
# Download the public scan sets listed in a MANIFEST.tsv (the columns of
# ../shared/datasets/real/MANIFEST.tsv) from their source repositories at the pinned commit,
# and verify each file's SHA-256. Needs internet access and curl.
#
#   datasets/fetch.sh [MANIFEST.tsv] [OUT_DIR]
#
# Defaults: the shared manifest beside the checkout, and datasets/real/ here (git-ignored).
# A file already present with the right checksum is not fetched again. Exit 1 if any file
# could not be fetched or failed its checksum (the bad download is removed).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
manifest=${1:-$here/../../shared/datasets/real/MANIFEST.tsv}
out=${2:-$here/real}
[ -f "$manifest" ] || { echo "fetch.sh: no manifest at $manifest" >&2; exit 1; }
command -v curl >/dev/null || { echo "fetch.sh: needs curl (apt-get install curl)" >&2; exit 1; }

fails=0
# Columns: relative_path kind set firearm_id specimen_id source_repo commit source_path license size sha256 ...
while IFS=$'\t' read -r rel kind set firearm specimen repo commit src license size sha rest; do
  [ "$rel" = relative_path ] && continue
  [ -n "$repo" ] && [ -n "$commit" ] || continue
  dest="$out/$rel"
  if [ -f "$dest" ] && echo "$sha  $dest" | sha256sum -c --status; then continue; fi
  mkdir -p "$(dirname "$dest")"
  url="https://raw.githubusercontent.com/$repo/$commit/$(printf '%s' "$src" | sed 's/ /%20/g')"
  echo "fetching $rel"
  if curl -fsSL --retry 3 -o "$dest.part" "$url" && echo "$sha  $dest.part" | sha256sum -c --status; then
    mv "$dest.part" "$dest"
  else
    echo "fetch.sh: $rel: download failed or SHA-256 mismatch ($url)" >&2
    rm -f "$dest.part"
    fails=$((fails + 1))
  fi
done < "$manifest"
cp "$manifest" "$out/MANIFEST.tsv" 2>/dev/null || true
echo "done: $fails failure(s); use with IBEX_DATA=$out"
[ "$fails" -eq 0 ]
