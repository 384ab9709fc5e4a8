#!/bin/sh

# Runs the libFuzzer targets, JOBS at a time, for core/Makefile.
#
#   run.sh fuzz    BIN SECONDS JOBS TARGET...
#       fuzzes each TARGET for SECONDS, starting from a copy of
#       fuzz/corpus/NAME (the repository's corpus is never written) and the
#       reproducers in fuzz/regress/NAME;
#   run.sh regress BIN 0 JOBS TARGET...
#       runs each TARGET once over fuzz/corpus/NAME and fuzz/regress/NAME
#       (-runs=0: no fuzzing, only the inputs as they are).
#
# BIN holds the binaries; each target writes BIN/TARGET.log, and in fuzz
# mode its findings as BIN/TARGET-crash-* (or -leak-, -timeout-, -oom-).
# Targets run in parallel and print nothing while they run, so the output
# is one line per target, in order, once all are done:
#
#   == fuzz_jws: ok, 60s: Done 1234567 runs in 61 second(s)
#
# then the end of the log of each target that failed.  The exit status is
# 1 when any target failed.
#
# Run from core/ (the Makefile does).

set -u

mode=$1
bin=$2
seconds=$3
jobs=$4
shift 4


# one target; run by xargs, so in a shell of its own

if [ "$mode" = one-fuzz ] || [ "$mode" = one-regress ]; then
    f=$1
    name=${f#fuzz_}
    log=$bin/$f.log

    # the findings listed at the end are this run's only
    rm -f "$bin/$f"-crash-* "$bin/$f"-leak-* "$bin/$f"-timeout-* \
          "$bin/$f"-oom-*

    if [ "$mode" = one-fuzz ]; then
        corpus=$bin/corpus/$name

        rm -rf "$corpus"
        mkdir -p "$corpus"
        cp fuzz/corpus/"$name"/* "$corpus"/

        # new inputs go to the first directory only: the copy
        "$bin/$f" -max_total_time="$seconds" -max_len=10000 -timeout=30 \
            -artifact_prefix="$bin/$f-" -print_final_stats=1 \
            "$corpus" fuzz/regress/"$name" > "$log" 2>&1

    else
        # no -max_len: a reproducer is run whole, however long
        "$bin/$f" -runs=0 -timeout=30 -artifact_prefix="$bin/$f-" \
            fuzz/corpus/"$name" fuzz/regress/"$name" > "$log" 2>&1
    fi

    echo $? > "$bin/$f.rc"
    exit 0
fi


for f in "$@"; do
    name=${f#fuzz_}

    for d in fuzz/corpus/"$name" fuzz/regress/"$name"; do
        if [ ! -d "$d" ]; then
            echo "== $f: no $d" >&2
            exit 1
        fi
    done

    rm -f "$bin/$f.rc" "$bin/$f.log"
done

printf '%s\n' "$@" | xargs -n 1 -P "$jobs" sh "$0" "one-$mode" "$bin" \
    "$seconds" "$jobs"

failed=

for f in "$@"; do
    rc=$(cat "$bin/$f.rc" 2>/dev/null || echo "none")
    log=$bin/$f.log

    if [ "$mode" = fuzz ]; then
        done_line=$(grep -E '^Done [0-9]+ runs' "$log" | tail -n 1)
        what="${seconds}s${done_line:+: $done_line}"
    else
        what="$(awk '/^INFO: +[0-9]+ files found in/ { n += $2 }
                     END { print n + 0 }' "$log") inputs"
    fi

    if [ "$rc" = 0 ]; then
        echo "== $f: ok, $what"
    else
        echo "== $f: FAILED (exit $rc), $what (log: $log)"
        failed="$failed $f"
    fi
done

for f in $failed; do
    echo
    echo "--- $f: the end of $bin/$f.log"
    tail -n 40 "$bin/$f.log"

    for a in "$bin/$f"-crash-* "$bin/$f"-leak-* "$bin/$f"-timeout-* \
             "$bin/$f"-oom-*
    do
        if [ -f "$a" ]; then
            echo "--- $f: reproducer $a (goes to fuzz/regress/${f#fuzz_}/)"
        fi
    done
done

[ -z "$failed" ]
