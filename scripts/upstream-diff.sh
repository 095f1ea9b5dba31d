#!/usr/bin/env bash
# The fork check for patches/ (see patches/LEDGER.md).
#
# For each forked crate (patches/<crate>/Cargo.toml), fetch its pristine
# crates.io release into a temporary directory, print the diff against the
# fork and a summary, and fail when:
#   - a file is changed or added in the fork but named on no `- Files:` line of
#     that crate's ledger entries,
#   - a file of the release is missing from the fork but named on no
#     `- Removed:` line (a path ending in `/` covers a directory),
#   - the ledger names a path that does not differ (a stale entry), or names a
#     crate that is not forked.
# cargo's own files (.cargo-ok, .cargo_vcs_info.json, Cargo.lock) and a
# stray target/ are ignored.
#
# Usage: scripts/upstream-diff.sh [--quiet]
#   --quiet  print only the per-crate summaries and the errors
#
# Needs cargo, tar and sha256sum (or shasum); reaches crates.io only when
# cargo's cache lacks the release or its dependencies.
set -euo pipefail

usage() { sed -n '2,20s/^# \{0,1\}//p' "$0"; }

quiet=false
case "${1:-}" in
"") ;;
-q | --quiet) quiet=true ;;
-h | --help)
    usage
    exit 0
    ;;
*)
    usage >&2
    exit 2
    ;;
esac

root="$(cd "$(dirname "$0")/.." && pwd)"
patches="$root/patches"
ledger="$patches/LEDGER.md"
cargo_home="${CARGO_HOME:-$HOME/.cargo}"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/upstream-diff.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

errors=0
fail() {
    echo "upstream-diff: ERROR: $*" >&2
    errors=$((errors + 1))
}
die() {
    echo "upstream-diff: $*" >&2
    exit 1
}
say() { if ! $quiet; then echo "$@"; fi; }

[[ -f "$ledger" ]] || die "no ledger at patches/LEDGER.md"

# `key = "value"` from the [package] table of a Cargo.toml.
package_field() {
    awk -v key="$2" '
        /^[ \t]*\[/ { in_pkg = ($0 ~ /^[ \t]*\[package\][ \t]*$/); next }
        in_pkg && $0 ~ "^[ \t]*" key "[ \t]*=[ \t]*\"" {
            v = $0; sub(/^[^"]*"/, "", v); sub(/".*$/, "", v); print v; exit
        }' "$1"
}

sha256() {
    if command -v sha256sum >/dev/null; then
        sha256sum "$1" | cut -d' ' -f1
    else
        shasum -a 256 "$1" | cut -d' ' -f1
    fi
}

# fetch_release NAME VERSION: unpack the crates.io .crate into $tmp and print
# the unpacked directory. A throwaway project depending on `NAME = "=VERSION"`
# makes cargo download it (offline first: no network when cargo's cache has
# it); the .crate is checked against the checksum cargo locked.
fetch_release() {
    local name="$1" version="$2" proj="$tmp/probe-$1" checksum crate="" f
    mkdir -p "$proj/src"
    : >"$proj/src/lib.rs"
    cat >"$proj/Cargo.toml" <<EOF
[package]
name = "upstream-diff-probe"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
$name = "=$version"

[workspace]
EOF
    if ! (cd "$proj" && cargo generate-lockfile --offline -q && cargo fetch --offline -q) >/dev/null 2>&1; then
        (cd "$proj" && cargo fetch -q) >&2 || die "cannot fetch $name $version from crates.io"
    fi
    checksum="$(awk -v n="$name" -v v="$version" '
        /^\[\[package\]\]/ { pn = ""; pv = "" }
        /^name = /     { pn = $3; gsub(/"/, "", pn) }
        /^version = /  { pv = $3; gsub(/"/, "", pv) }
        /^checksum = / { c = $3; gsub(/"/, "", c); if (pn == n && pv == v) { print c; exit } }
    ' "$proj/Cargo.lock")"
    [[ -n "$checksum" ]] || die "no checksum for $name $version in the probe's Cargo.lock"
    for f in "$cargo_home"/registry/cache/*/"$name-$version.crate"; do
        if [[ -f "$f" && "$(sha256 "$f")" == "$checksum" ]]; then
            crate="$f"
            break
        fi
    done
    [[ -n "$crate" ]] || die "cargo fetched $name $version but no $name-$version.crate with its checksum is in $cargo_home/registry/cache"
    mkdir -p "$tmp/release-$name"
    tar -xzf "$crate" -C "$tmp/release-$name"
    [[ -d "$tmp/release-$name/$name-$version" ]] || die "$crate did not unpack to $name-$version/"
    echo "$tmp/release-$name/$name-$version"
}

# Relative paths of the files under a directory, sorted, without cargo's own.
list_files() {
    (cd "$1" && find . \( -type f -o -type l \) | sed 's|^\./||') |
        awk '!/^(\.cargo-ok|\.cargo_vcs_info\.json|Cargo\.lock|LEDGER\.md)$/ && !/^target\//' |
        LC_ALL=C sort
}

# The ledger as records `crate<TAB>field<TAB>path<TAB>entry`, one per path on
# the `- Files:` and `- Removed:` lines (comma or space separated, backticks
# allowed; crate `-` when the entry has no `- Crate:` line). Fenced code blocks and HTML comments are skipped, so a template
# in a comment is not read.
ledger_records() {
    awk '
        function flush(   i, n, parts, f) {
            for (f = 1; f <= 2; f++) {
                n = split(val[f], parts, /[ ,]+/)
                for (i = 1; i <= n; i++)
                    if (parts[i] != "" && parts[i] != "none")
                        print (crate == "" ? "-" : crate) "\t" fname[f] "\t" parts[i] "\t" title
            }
            crate = ""; val[1] = ""; val[2] = ""
        }
        BEGIN { fname[1] = "Files"; fname[2] = "Removed"; title = "(before any heading)" }
        in_comment { if ($0 ~ /-->/) in_comment = 0; next }
        /^[ \t]*<!--/ { if ($0 !~ /-->/) in_comment = 1; next }
        /^[ \t]*```/ { in_fence = !in_fence; next }
        in_fence { next }
        /^#+ / { flush(); title = $0; sub(/^#+ /, "", title); next }
        /^- Crate:/ { crate = $0; sub(/^- Crate:/, "", crate); gsub(/[`* \t]/, "", crate); next }
        /^- Files:/ { v = $0; sub(/^- Files:/, "", v); gsub(/`/, "", v); val[1] = val[1] " " v; next }
        /^- Removed:/ { v = $0; sub(/^- Removed:/, "", v); gsub(/`/, "", v); val[2] = val[2] " " v; next }
        END { flush() }
    ' "$ledger"
}

# covered PATH PATTERN...: PATH equals a pattern, or lies under one ending in `/`.
covered() {
    local path="$1" p
    shift
    for p in "$@"; do
        if [[ "$path" == "$p" || ("$p" == */ && "$path" == "$p"*) ]]; then
            return 0
        fi
    done
    return 1
}

records="$(ledger_records)"
forked=()

for manifest in "$patches"/*/Cargo.toml; do
    [[ -f "$manifest" ]] || continue
    dir="$(dirname "$manifest")"
    rel="patches/$(basename "$dir")"
    name="$(package_field "$manifest" name)"
    version="$(package_field "$manifest" version)"
    [[ -n "$name" && -n "$version" ]] || die "$rel/Cargo.toml: no [package] name and version"
    forked+=("$name")
    release="$(fetch_release "$name" "$version")"

    files_pats=()
    removed_pats=()
    while IFS=$'\t' read -r crate field path _; do
        [[ "$crate" == "$name" ]] || continue
        if [[ "$field" == Files ]]; then files_pats+=("$path"); else removed_pats+=("$path"); fi
    done <<<"$records"

    list_files "$release" >"$tmp/release.list"
    list_files "$dir" >"$tmp/fork.list"
    mapfile -t removed < <(LC_ALL=C comm -23 "$tmp/release.list" "$tmp/fork.list")
    mapfile -t added < <(LC_ALL=C comm -13 "$tmp/release.list" "$tmp/fork.list")
    changed=()
    while IFS= read -r f; do
        cmp -s "$release/$f" "$dir/$f" || changed+=("$f")
    done < <(LC_ALL=C comm -12 "$tmp/release.list" "$tmp/fork.list")

    say "==> $name $version: crates.io release vs $rel"
    plus=0 minus=0 removed_lines=0
    for f in ${changed[@]+"${changed[@]}"}; do
        diff -u --label "a/$f" --label "b/$f" "$release/$f" "$dir/$f" >"$tmp/file.diff" || true
        say "$(cat "$tmp/file.diff")"
        plus=$((plus + $(tail -n +3 "$tmp/file.diff" | grep -c '^+' || true)))
        minus=$((minus + $(tail -n +3 "$tmp/file.diff" | grep -c '^-' || true)))
    done
    for f in ${added[@]+"${added[@]}"}; do
        diff -u --label /dev/null --label "b/$f" /dev/null "$dir/$f" >"$tmp/file.diff" || true
        say "$(cat "$tmp/file.diff")"
        plus=$((plus + $(wc -l <"$dir/$f")))
    done
    for f in ${removed[@]+"${removed[@]}"}; do
        n=$(wc -l <"$release/$f")
        removed_lines=$((removed_lines + n))
        say "removed: $f ($n lines)"
    done
    echo "$name $version: ${#changed[@]} files changed, ${#added[@]} added, ${#removed[@]} removed;" \
        "+$plus -$minus lines in changed and added files, $removed_lines lines in removed files"

    for f in ${changed[@]+"${changed[@]}"}; do
        covered "$f" ${files_pats[@]+"${files_pats[@]}"} ||
            fail "$rel/$f differs from the $name $version release but no '- Files:' line of patches/LEDGER.md (Crate: $name) names it"
    done
    for f in ${added[@]+"${added[@]}"}; do
        covered "$f" ${files_pats[@]+"${files_pats[@]}"} ||
            fail "$rel/$f is added (not in the $name $version release) but no '- Files:' line of patches/LEDGER.md (Crate: $name) names it"
    done
    for f in ${removed[@]+"${removed[@]}"}; do
        covered "$f" ${removed_pats[@]+"${removed_pats[@]}"} ||
            fail "$rel/$f is removed from the $name $version release but no '- Removed:' line of patches/LEDGER.md (Crate: $name) covers it"
    done
    while IFS=$'\t' read -r crate field path entry; do
        [[ "$crate" == "$name" ]] || continue
        if [[ "$field" == Files ]]; then
            matches=(${changed[@]+"${changed[@]}"} ${added[@]+"${added[@]}"})
        else
            matches=(${removed[@]+"${removed[@]}"})
        fi
        hit=false
        for f in ${matches[@]+"${matches[@]}"}; do
            if covered "$f" "$path"; then
                hit=true
                break
            fi
        done
        $hit || fail "patches/LEDGER.md: entry '$entry' lists $path under '- $field:', but $rel/$path is not $([[ $field == Files ]] && echo "changed or added" || echo "removed") (stale entry)"
    done <<<"$records"
done

while IFS=$'\t' read -r crate entry; do
    [[ -n "$entry" ]] || continue
    if [[ "$crate" == - ]]; then
        fail "patches/LEDGER.md: entry '$entry' has a '- Files:' or '- Removed:' line but no '- Crate:' line"
    elif ! covered "$crate" ${forked[@]+"${forked[@]}"}; then
        fail "patches/LEDGER.md: entry '$entry' names crate '$crate', which is not forked under patches/"
    fi
done < <(cut -f1,4 <<<"$records" | LC_ALL=C sort -u)

if ((errors > 0)); then
    echo "upstream-diff: FAILED, $errors problem(s); every difference from upstream needs its patches/LEDGER.md entry" >&2
    exit 1
fi
echo "upstream-diff: OK, every difference from upstream is in patches/LEDGER.md"
