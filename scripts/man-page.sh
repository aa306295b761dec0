#!/usr/bin/env bash
# Completes the man page that swift-argument-parser's generate-manual writes from the command
# line's help (NAME, SYNOPSIS, DESCRIPTION with every subcommand and option) with the sections it
# cannot know, each from the one place that is true:
#
#   ENVIRONMENT   man/environment.mdoc; checked against the variables the code reads (getenv in
#                 Sources/, and ${TDEFS_...} in scripts/mount.fuse.tdefs): none missing, none extra
#   FILES         man/files.mdoc, with the install paths put in; every BACKING/ name it lists must
#                 be in docs/format.md
#   EXIT STATUS   made from the table in docs/exit-codes.md, whose statuses must be exactly those
#                 of Sources/tdefs/ExitCodes.swift
#   SEE ALSO      man/see-also.mdoc
#   SYNOPSIS      every subcommand's USAGE line from `tdefs CMD --help` (Sources/tdefs/Synopsis.swift),
#                 replacing generate-manual's "tdefs subcommand": the lines README.md and
#                 docs/cli.md show (CLIContractTests compares those with --help)
#
# and writes the page of the fstab helper, man/mount.fuse.tdefs.8.mdoc, checking that it describes
# every option the helper takes out of the list.
#
# It replaces generate-manual's generic EXIT STATUS (".Ex -std") and keeps AUTHORS last; the footer
# names the version (the file VERSION). Another
# section goes into man/ as NAME.mdoc and into the list `sections` below, in mdoc(7)'s order.
#
#   scripts/man-page.sh GENERATED OUTDIR        (writes OUTDIR/tdefs.8 and OUTDIR/mount.fuse.tdefs.8)
#
# The install paths and the date come from the environment (the Makefile passes them): BINDIR,
# SBINDIR, UNITDIR, DATADIR, DOCDIR, CONFDIR, MANDATE. Exits non-zero (and writes nothing) when a
# check fails.
set -euo pipefail
cd "$(dirname "$0")/.."

[ $# -eq 2 ] || { echo "usage: $0 GENERATED OUTDIR" >&2; exit 2; }
generated=$1
outdir=$2
for v in BINDIR SBINDIR UNITDIR DATADIR DOCDIR CONFDIR MANDATE TDEFS_MAN_BIN; do
    [ -n "${!v:-}" ] || { echo "man-page.sh: $v is not set" >&2; exit 2; }
done
problems=0
problem() { echo "man-page.sh: $*" >&2; problems=1; }

# ENVIRONMENT: what the code reads, against what the page lists.
read_vars=$( { grep -rhoE 'getenv\("[A-Za-z_][A-Za-z0-9_]*"\)' Sources | sed -E 's/getenv\("(.*)"\)/\1/'
               grep -rhoE 'environment\["[A-Za-z_][A-Za-z0-9_]*"\]' Sources | sed -E 's/environment\["(.*)"\]/\1/'
               grep -hoE '\$\{TDEFS_[A-Z0-9_]+' scripts/mount.fuse.tdefs | sed 's/^\${//'
             } | sort -u)
listed_vars=$(sed -n 's/^\.It Ev \([A-Za-z0-9_]*\).*/\1/p' man/environment.mdoc | sort -u)
for v in $(comm -23 <(echo "$read_vars") <(echo "$listed_vars")); do
    problem "the code reads \$$v, which man/environment.mdoc does not describe"
done
for v in $(comm -13 <(echo "$read_vars") <(echo "$listed_vars")); do
    problem "man/environment.mdoc describes \$$v, which no code reads"
done

# FILES: the backing directory's names must be those of the format.
for name in $(sed -n 's/^\.It Ar BACKING Ns Pa \/\([^ ]*\).*/\1/p' man/files.mdoc); do
    grep -q "$name" docs/format.md || problem "man/files.mdoc lists BACKING/$name, which docs/format.md does not"
done

# EXIT STATUS: docs/exit-codes.md's table, whose statuses must be ExitCodes.swift's.
doc_codes=$(awk -F'|' '/^\| *[0-9]+ *\|/ { gsub(/ /, "", $2); print $2 }' docs/exit-codes.md | sort -n)
code_codes=$(sed -n 's/^ *case [A-Za-z]* = \([0-9]*\)$/\1/p' Sources/tdefs/ExitCodes.swift | sort -n)
[ -n "$doc_codes" ] || problem "no exit statuses found in docs/exit-codes.md"
[ "$doc_codes" = "$code_codes" ] || problem "docs/exit-codes.md lists statuses $(echo $doc_codes), Sources/tdefs/ExitCodes.swift has $(echo $code_codes)"

# The helper's page: every NAME= option the helper handles.
for opt in $(sed -n 's/^ *\([a-z]*\)=\*).*/\1/p' scripts/mount.fuse.tdefs); do
    grep -q "^\.It Cm $opt= " man/mount.fuse.tdefs.8.mdoc \
        || problem "man/mount.fuse.tdefs.8.mdoc does not describe the helper's option $opt="
done

[ "$problems" -eq 0 ] || exit 1

paths() {
    sed -e "s|@BINDIR@|$BINDIR|g" -e "s|@SBINDIR@|$SBINDIR|g" -e "s|@UNITDIR@|$UNITDIR|g" \
        -e "s|@DATADIR@|$DATADIR|g" -e "s|@DOCDIR@|$DOCDIR|g" -e "s|@CONFDIR@|$CONFDIR|g" \
        -e "s|@DATE@|$MANDATE|g" -e "s|@VERSION@|$(cat VERSION)|g" "$@"
}
exit_status() {
    echo '.Sh EXIT STATUS'
    echo 'The statuses are stable; scripts and systemd units may rely on them.'
    echo '.Bl -tag -width Ds'
    # Markdown cells to mdoc text: no backticks, backslashes escaped, no line starting with a dot.
    awk -F'|' '/^\| *[0-9]+ *\|/ {
        code = $2; meaning = $3; causes = $4
        gsub(/^ +| +$/, "", code); gsub(/^ +| +$/, "", meaning); gsub(/^ +| +$/, "", causes)
        text = meaning (causes != "" ? ": " causes : "")
        gsub(/`/, "", text); gsub(/\\/, "\\e", text)
        print ".It " code
        print "\\&" text
    }' docs/exit-codes.md
    echo '.El'
    echo ".Pp"
    echo "The list, with every cause: $DOCDIR/exit-codes.md."
}
# SYNOPSIS: the binary's own USAGE lines, one per subcommand, and the KEY notation they use.
synopsis() {
    echo '.Sh SYNOPSIS'
    echo '.Bd -literal'
    local commands
    commands=$("$TDEFS_MAN_BIN" --help | awk '/^SUBCOMMANDS:/ { on = 1; next } on && /^$/ { exit }
                                            on && /^  [a-z]/ { print $1 }' | grep -vx help)
    [ -n "$commands" ] || { echo "man-page.sh: no subcommands in $TDEFS_MAN_BIN --help" >&2; return 1; }
    for c in $commands; do
        "$TDEFS_MAN_BIN" "$c" --help | awk '/^USAGE: / { sub(/^USAGE: /, ""); line = $0; on = 1; next }
                                            on && /^$/ { exit } on { line = line " " $0 } END { gsub(/  +/, " ", line); print line }'
    done
    echo 'tdefs --version'
    echo '.Ed'
    echo '.Pp'
    "$TDEFS_MAN_BIN" --help | awk '/^KEY := / { on = 1 } on && /^\(/ { exit } on { printf "%s%s", sep, $0; sep = " " } END { print "" }'
}
sections() {
    paths man/environment.mdoc
    paths man/files.mdoc
    exit_status
    paths man/see-also.mdoc
}

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
inserted=$(mktemp)
sections > "$inserted"
synopsis_file=$(mktemp)
synopsis > "$synopsis_file" || exit 1
# The generated page with our SYNOPSIS, up to its EXIT STATUS (or AUTHORS), our sections, then
# AUTHORS onwards.
awk -v syn="$synopsis_file" '
    /^\.Sh SYNOPSIS$/ { while ((getline line < syn) > 0) print line; in_synopsis = 1; next }
    /^\.Sh / { in_synopsis = 0 }
    in_synopsis { next }
    { print }
' "$generated" | awk -v ins="$inserted" '
    function insert(   line) { while ((getline line < ins) > 0) print line; done = 1 }
    /^\.Sh "?EXIT STATUS"?$/ { if (!done) insert(); skipping = 1; next }
    /^\.Sh / { if (skipping) skipping = 0; if ($2 == "AUTHORS" && !done) insert() }
    skipping { next }
    { print }
    END { if (!done) insert() }
' | sed "s/^\\.Os\$/.Os tdefs $(cat VERSION)/" > "$tmp"
rm -f "$inserted" "$synopsis_file"
for s in ENVIRONMENT FILES '"\?EXIT STATUS"\?' 'SEE ALSO'; do
    grep -q "^\.Sh $s\$" "$tmp" || { echo "man-page.sh: section $s missing from the result" >&2; exit 1; }
done
mkdir -p "$outdir"
paths man/mount.fuse.tdefs.8.mdoc > "$outdir/mount.fuse.tdefs.8"
mv "$tmp" "$outdir/tdefs.8"
trap - EXIT
