#!/usr/bin/env bash
# tools/install_check.sh BUILD_DIR - checks what `cmake --install` produces, the way a user of
# the library sees it: installs BUILD_DIR into a temporary prefix, compiles every public header
# on its own, and builds + runs a tiny program against the installed clnas.pc that calls
# clnas_devices_list. Run by tests/test_install.c (so by ctest) and usable by hand.
#
# Hard checks (exit 1): install succeeds; headers, pkg-config file, library and command are
# there; each public header compiles alone (C11, -Wall -Wextra -Wpedantic -Werror); the program
# links with `pkg-config --static --define-prefix` and runs; the shared library exports exactly
# the functions the public headers declare; the README's library example compiles and links.
# Soft checks (a NOTE, exit 0; exit 1 with CLNAS_INSTALL_CHECK_STRICT=1): the plain
# `pkg-config --cflags --libs clnas` (no --static, no --define-prefix) also links, i.e. the .pc
# file is relocatable and complete for the library kind that is installed; and linking the
# whole archive (every object, as a program using all of the API would) succeeds.
set -euo pipefail

build=${1:?usage: tools/install_check.sh BUILD_DIR}
build=$(cd "$build" && pwd)
cc=${CC:-cc}
strict=${CLNAS_INSTALL_CHECK_STRICT:-1}

# Builds with sanitizers need the same flags on the test program.
san=$(sed -n 's/^CLNAS_SANITIZE:STRING=//p' "$build/CMakeCache.txt" 2>/dev/null || true)
extra=()
if [ -n "$san" ]; then extra=(-fsanitize="$san" -fno-omit-frame-pointer); fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/clnas-install-check.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

fail() { echo "install_check: FAIL: $*" >&2; exit 1; }
soft=0
note() {
  echo "install_check: NOTE: $*" >&2
  soft=$((soft + 1))
}

cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1 ||
  { cat "$tmp/install.log" >&2; fail "cmake --install $build --prefix $prefix"; }

pcdir=""
for d in "$prefix"/lib*/pkgconfig "$prefix"/lib/*/pkgconfig "$prefix"/share/pkgconfig; do
  [ -f "$d/clnas.pc" ] && { pcdir=$d; break; }
done
[ -n "$pcdir" ] || fail "no clnas.pc under $prefix"
[ -x "$prefix/bin/clnas" ] || fail "no bin/clnas under $prefix"
[ -f "$prefix/include/clnas/context.h" ] || fail "no include/clnas/context.h under $prefix"
[ -n "$(find "$prefix" -name 'libclnas.*' -print -quit)" ] || fail "no libclnas under $prefix"

# Every public header compiles on its own.
for h in "$prefix"/include/clnas/*.h; do
  name=clnas/$(basename "$h")
  printf '#include <%s>\nint main(void) { return 0; }\n' "$name" >"$tmp/hdr.c"
  "$cc" -std=c11 -Wall -Wextra -Wpedantic -Werror -I"$prefix/include" -DCL_TARGET_OPENCL_VERSION=120 \
    -c "$tmp/hdr.c" -o "$tmp/hdr.o" 2>"$tmp/hdr.log" || { cat "$tmp/hdr.log" >&2; fail "$name does not compile alone"; }
done

cat >"$tmp/use.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <clnas/context.h>
int main(void)
{
    clnas_device_info *d = NULL;
    int n = 0;
    char err[256];
    clnas_status st = clnas_devices_list(&d, &n, err, sizeof err);
    if (st != CLNAS_OK) {
        fprintf(stderr, "clnas_devices_list: %s: %s\n", clnas_status_str(st), err);
        return 1;
    }
    printf("%d device(s)%s%s\n", n, n ? ", first: " : "", n ? d[0].name : "");
    free(d);
    return 0;
}
C

export PKG_CONFIG_PATH=$pcdir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
pc() { pkg-config "$@" clnas; }
pc --exists || fail "pkg-config cannot read $pcdir/clnas.pc"
[ "$(pc --modversion)" != "" ] || fail "clnas.pc has no version"

# Hard: the relocated, static flags link and the program runs.
read -r -a flags <<<"$(pc --define-prefix --static --cflags --libs)"
"$cc" -std=c11 -Wall -Wextra -Werror "${extra[@]}" "$tmp/use.c" -o "$tmp/use" "${flags[@]}" 2>"$tmp/link.log" ||
  { cat "$tmp/link.log" >&2; fail "linking with: pkg-config --define-prefix --static --cflags --libs clnas -> ${flags[*]}"; }
libdir=$(pc --define-prefix --variable=libdir)
out=$(LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$tmp/use") ||
  fail "the program linked against the installed library failed (LD_LIBRARY_PATH=$libdir)"
echo "install_check: linked against $prefix and ran: $out"
out=$(LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$prefix/bin/clnas" --version) ||
  fail "the installed clnas does not run"
echo "install_check: installed command: $out"

# Hard: the shared library exports exactly the public API: every function the installed headers
# declare (gcc -aux-info lists them), and nothing else (no internal or unprefixed symbol).
so=$(find "$prefix" -name 'libclnas.so.*.*' -print -quit)
if [ -n "$so" ]; then
  for h in "$prefix"/include/clnas/*.h; do echo "#include <clnas/$(basename "$h")>"; done >"$tmp/allh.c"
  "$cc" -std=c11 -I"$prefix/include" -aux-info "$tmp/aux.txt" -c "$tmp/allh.c" -o "$tmp/allh.o" ||
    fail "cannot list the declarations of the public headers"
  grep -F "$prefix/include/clnas/" "$tmp/aux.txt" | grep -oE '\bclnas_[a-z0-9_]+ *\(' | tr -d ' (' | sort -u >"$tmp/declared"
  nm -D --defined-only "$so" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' | sort -u >"$tmp/exported"
  surplus=$(comm -13 "$tmp/declared" "$tmp/exported" | tr '\n' ' ')
  missing=$(comm -23 "$tmp/declared" "$tmp/exported" | tr '\n' ' ')
  [ -z "$surplus" ] || fail "libclnas exports symbols no public header declares: $surplus"
  [ -z "$missing" ] || fail "public headers declare functions libclnas does not export: $missing"
  echo "install_check: libclnas exports exactly the $(wc -l <"$tmp/declared") functions of the public headers"
fi

# Hard: the README's library example compiles and links against the installed library.
readme=$(dirname "$0")/../README.md
awk '/^## Using the library/ {on = 1} on && /^```c$/ {code = 1; next} code && /^```$/ {exit} code {print}' \
  "$readme" >"$tmp/readme_example.c"
[ -s "$tmp/readme_example.c" ] || fail "no C example under '## Using the library' in README.md"
"$cc" -std=c11 -Wall -Wextra -Werror "${extra[@]}" "$tmp/readme_example.c" -o "$tmp/readme_example" "${flags[@]}" \
  2>"$tmp/readme.log" || { cat "$tmp/readme.log" >&2; fail "the README's library example does not compile and link"; }
echo "install_check: the README's library example compiles and links"

# Soft: the installed command finds its library without LD_LIBRARY_PATH (RPATH), when the
# library is shared and the prefix is not a system directory.
if [ -n "$(find "$prefix" -name 'libclnas.so*' -print -quit)" ] &&
   ! env -u LD_LIBRARY_PATH "$prefix/bin/clnas" --version >/dev/null 2>"$tmp/rpath.log"; then
  note "installed bin/clnas does not start from a non-system prefix without LD_LIBRARY_PATH" \
       "(no install RPATH, e.g. \$ORIGIN/../lib): $(head -1 "$tmp/rpath.log")"
fi

# Soft: the plain form a user would type first.
read -r -a plain <<<"$(pc --cflags --libs)"
if ! "$cc" -std=c11 "${extra[@]}" "$tmp/use.c" -o "$tmp/use_plain" "${plain[@]}" 2>"$tmp/plain.log"; then
  note "\`pkg-config --cflags --libs clnas\` (${plain[*]}) does not link a program calling clnas_devices_list:" \
       "$(grep -m3 -E 'error|undefined|No such' "$tmp/plain.log" | tr '\n' ' ')"
fi

# Soft: every object of the archive links with the declared dependencies.
lib=$(find "$prefix" -name libclnas.a -print -quit)
if [ -n "$lib" ]; then
  read -r -a libs <<<"$(pc --define-prefix --static --libs-only-other --libs-only-l | sed 's/-lclnas//')"
  read -r -a cflags <<<"$(pc --define-prefix --cflags)"
  if ! "$cc" "${extra[@]}" "$tmp/use.c" -o "$tmp/use_all" "${cflags[@]}" \
        -Wl,--whole-archive "$lib" -Wl,--no-whole-archive "${libs[@]}" 2>"$tmp/all.log"; then
    note "linking all of libclnas.a with the libraries clnas.pc declares fails (a dependency is missing from the .pc):" \
         "$(grep -m5 -oE "undefined reference to \`[^']+'" "$tmp/all.log" | sort -u | tr '\n' ' ')"
  fi
fi

if [ "$soft" -gt 0 ] && [ "$strict" = 1 ]; then fail "$soft soft check(s) failed (CLNAS_INSTALL_CHECK_STRICT=1)"; fi
echo "install_check: OK ($soft note(s))"
