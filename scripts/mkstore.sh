#!/usr/bin/env bash
# Build a synthetic Guix-like store under $1 (default /tmp/bench-root) from real files on this machine:
# store items named <32-char hash>-<name>, read-only files, mtime 1, and a .links dir of hardlinks
# (what `guix gc --optimize` leaves), plus an empty var/guix/db/db.sqlite for the caller to replace with
# a real DB (the tests and the benchmark all do). Size is steered by $2 (MiB of source, default 1200).
set -euo pipefail
# Kept in the repo (from the team's shared scripts) so that the tests and `npm run bench` work on a fresh clone.
root=${1:-/tmp/bench-root}; mib=${2:-1200}
rm -rf "$root"; mkdir -p "$root/gnu/store/.links" "$root/var/guix/db"
budget=$((mib*1024*1024)); used=0; n=0
for src in /usr/lib/x86_64-linux-gnu /usr/share/doc /usr/share/perl /usr/bin /usr/lib/python3 /usr/share/locale /usr/lib/gcc /usr/share/man /usr/local/lib; do
  [ -d "$src" ] || continue
  # One du per source dir, not one per item (thousands of processes). Without -l, a file with
  # several names counts once: the budget is the bytes the store holds, as it was with one du per
  # item (with -l, `mkstore.sh ROOT 400` made a store of 105 MiB and skewed the benchmark).
  while IFS=$'\t' read -r sz item; do
    [ -e "$item" ] || continue
    [ $((used+sz)) -gt $budget ] && continue
    # A store path's shape: nix-base32 (no e) and only the name characters the daemons allow.
    h=$(printf '%s' "$item" | sha256sum | cut -c1-32 | tr e x)
    dest="$root/gnu/store/$h-$(basename "$item" | tr -c 'A-Za-z0-9+._?=\n-' _)"
    cp -a "$item" "$dest" 2>/dev/null || true
    used=$((used+sz)); n=$((n+1))
  done < <(du -sb -- "$src"/* 2>/dev/null)
done
# dedup identical files through .links hardlinks, as guix does
( cd "$root/gnu/store" && find . -path ./.links -prune -o -type f -print0 | xargs -0 sha256sum 2>/dev/null ) | sort | while read -r sum f; do
  link="$root/gnu/store/.links/$sum"
  if [ -e "$link" ]; then ln -f "$link" "$root/gnu/store/$f" || true; else ln "$root/gnu/store/$f" "$link" || true; fi
done
# No filler: every caller replaces the DB with a real one (it used to be 86 MB of base64, written
# only to be deleted).
: > "$root/var/guix/db/db.sqlite"
find "$root/gnu/store" -mindepth 1 -exec touch -h -d @1 {} + 
chmod -R a-w "$root/gnu/store"/*-* 2>/dev/null || true
echo "items=$n bytes=$(du -sb "$root" | cut -f1) files=$(find "$root" -type f | wc -l) links=$(find "$root/gnu/store/.links" -type f | wc -l)"
