#!/usr/bin/env bash
# Packs an ssmsim binary with Debian's OpenMPI runtime (mpirun, its plugins and help texts, PMIx)
# and every shared library they load into one folder, for a Linux machine that has neither and
# cannot install them (the 16-core machine of docs/results.md's MPI scaling). The C library itself
# is the other machine's (glibc 2.36 or newer).
#
# Usage: scripts/mpi_bundle.sh OUT_DIR [BINARY]      (BINARY: build/bin/ssmsim by default)
# There: source OUT_DIR/env.sh; mpirun --allow-run-as-root -n 4 ssmsim train ...
set -euo pipefail

out=${1:?usage: scripts/mpi_bundle.sh OUT_DIR [BINARY]}
bin=${2:-build/bin/ssmsim}
command -v orterun >/dev/null || { echo "mpi_bundle: OpenMPI is not installed: run make deps" >&2; exit 2; }
[[ -x $bin ]] || { echo "mpi_bundle: no binary at $bin: run make build" >&2; exit 2; }
arch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
lib=/usr/lib/$arch

rm -rf "$out"
mkdir -p "$out/usr/bin" "$out$lib/openmpi/lib" "$out/usr/share"
cp -L "$bin" "$out/usr/bin/ssmsim"
cp -L "$(command -v orterun)" "$(command -v orted)" "$out/usr/bin/"
ln -s orterun "$out/usr/bin/mpirun"
cp -a "$lib/openmpi/lib/openmpi3" "$out$lib/openmpi/lib/"  # the MCA plugins
cp -a "$lib/pmix2" "$out$lib/"                             # PMIx, its plugins and help texts
cp -a /usr/share/openmpi "$out/usr/share/"                 # help texts and parameter sets

# Every library the programs and plugins load, except the C library's own.
find "$out" -type f \( -perm -u+x -o -name '*.so*' \) -print0 | xargs -0 ldd 2>/dev/null |
  awk '/=> \// {print $3}' | sort -u |
  grep -vE '/(libc|libm|libdl|libpthread|librt|libresolv|ld-linux-x86-64)\.so' |
  while read -r l; do cp -Ln "$l" "$out$lib/"; done

cat >"$out/env.sh" <<EOF
# source this: ssmsim and mpirun from this folder (OpenMPI relocated by OPAL_PREFIX).
here=\$(cd "\$(dirname "\${BASH_SOURCE[0]}")" && pwd)
export PATH=\$here/usr/bin:\$PATH
export LD_LIBRARY_PATH=\$here$lib:\$here$lib/openmpi/lib:\$here$lib/pmix2/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}
export OPAL_PREFIX=\$here/usr PMIX_INSTALL_PREFIX=\$here$lib/pmix2
EOF
echo "mpi_bundle: $(du -sh "$out" | cut -f1) in $out; there: source $out/env.sh"
