#!/usr/bin/env bash
# Whole-process comparisons of OciKit with the standard tools: identical inputs, one run, several repetitions
# (interleaved, so drifting machine load hits every tool alike), medians and ratios printed as markdown tables.
#
# Usage: benchmarks/compare.sh [-n REPS] [-o RESULTS.md] [-s SOURCE-DIR] [-b BASELINE-TREE] [SECTION...]
#   layer    a. one layer from a ~600 MB directory (a copy of the machine's .NET install): the OciKit layer writer
#               vs `tar --sort=name | gzip -6` + `sha256sum` vs `tar --sort=name | pigz -6` (time, size, peak RSS)
#   memory      peak RSS of a ~2.5 GB layer build (issue 4's target: under 300 MB)
#   msbuild  b. apps containerized onto a base in a loopback registry: `dotnet publish -t:OciPublish` vs the SDK's
#               `-t:PublishContainer`, cold / warm / after a one-line change / fresh agent (a new store and clean
#               bin/obj, the registry warm: OciKit with ContainerCacheRepository, which the earlier states filled), each
#               minus plain `dotnet publish` in the same state, and the container tasks alone; cases (MSBUILD_CASES): sc-console (self-contained console
#               app, busybox base), fd-console (framework-dependent console app, runtime-like base), fd-web (the web
#               sample, aspnet-like base); for sc-console also its deflate floor (the bench `floor` command on the
#               published directory: the Runtime layer's level-6 deflate CPU-s on one thread / cores) against the cold
#               tasks alone (issue 20: within 1.3×)
#   copy     c. pushing an OCI layout of a multi-layer image: `ocikit copy` vs `skopeo copy`; pulling it back:
#               `ocikit pull` into a store vs `skopeo copy` to an OCI dir (the CLI published for this machine's
#               runtime, NativeAOT, as the README advises for speed; needs gcc or clang)
#   run      d. three RUN steps on a ~100 MB two-layer base (busybox-static, perl and python3 trees of this machine, an
#               OCI layout): `ocikit build` (NativeAOT CLI, runc) vs `buildah bud --isolation chroot --layers` with
#               the vfs and the overlay storage drivers; cold (the base imported from the layout and extracted by the
#               build) and warm `--no-cache` (the base stored and extracted); the built images compared by a file
#               list taken in `ocikit run` and `buildah run`; OciKit's time per step and the base's extraction alone
# -s copies another directory than the .NET install as the input (for a quick smoke run of the script itself).
# -b packs OciKit.MSBuild from another checkout too (say, a clone of the commit before a change) and measures it in
#    section b as one more side, interleaved with the others: before/after of a change in one run.
# `compare.sh --selftest` checks only the table formatting (ratios, skipped steps, targets) and exits: no build, no tools.
# Default: every section; a section whose OciKit side is not built yet says so and is skipped.
#
# Needs only what test.sh installs (docker-registry, skopeo, pigz, gzip, tar, time, gcc; for d: busybox-static, runc,
# buildah, python3, perl) and the .NET SDK; section d runs as root (runc, and buildah's chroot isolation). Starts its
# own docker-registry processes on 127.0.0.1 and removes everything it made on exit. Run it on an idle machine:
# it measures wall-clock time, and the machine facts (nproc, load average) are printed with the results.
set -euo pipefail

# --- formatting (pure functions of the medians; `--selftest` checks them) ----------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "nan" || b == "nan") print "–"; else if (b + 0 == 0) print (a + 0 > 0) ? "∞" : "–"; else printf "%.2f", a / b }'; }
div() { awk -v a="$1" -v b="$2" -v d="${3:-2}" 'BEGIN { if (a == "nan") print "–"; else printf "%.*f", d, a / b }'; }
minus() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "nan" || b == "nan") print "nan"; else print a - b }'; }
fmt() { awk -v v="$1" -v d="${2:-2}" 'BEGIN { if (v == "nan") print "–"; else printf "%.*f", d, v }'; }
# Whether a side's container tasks did not run (median call count 0): MSBuild skipped the target as up to date.
skipped() { awk -v c="$1" 'BEGIN { exit !(c != "nan" && c + 0 == 0) }'; }

# msbuild_row STATE PLAIN SDK OCIKIT SDK-TASKS OCIKIT-TASKS SDK-CALLS OCIKIT-CALLS: one row of table b from the medians
# (seconds; CALLS = how many times the side's container tasks ran, "nan" when the side was not measured). The step is
# the publish minus plain publish. A skipped OciKit step (its target up to date, its tasks not run) is reported as
# skipped with an infinite ratio, the target met, whatever the subtraction of two near-equal publishes gives; a step
# that ran but whose subtraction is not above 0 s is within the noise: no ratio, the target not measured.
msbuild_row() {
  local state=$1 p=$2 s=$3 k=$4 ds=$5 dk=$6 sc=$7 kc=$8
  local ss ks goal r kcell verdict
  ss=$(minus "$s" "$p"); ks=$(minus "$k" "$p")
  goal=5; [ "$state" = cold ] && goal=2; [ "$state" = fresh ] && goal=4
  kcell=$(fmt "$ks")
  if skipped "$kc"; then
    kcell="skipped"
    if skipped "$sc"; then r="–"; verdict="not measured (both skipped)"; else r="∞"; verdict="met (up to date: skipped)"; fi
  elif [ "$ss" = nan ] || [ "$ks" = nan ]; then
    r="–"; verdict="not measured"
  elif awk -v k="$ks" 'BEGIN { exit !(k + 0 <= 0) }'; then
    r="–"; verdict="not measured (OciKit step within the noise)"
  else
    r=$(ratio "$ss" "$ks")
    # Met only where the tasks alone (the steadier measure) agree: a step that subtracts two noisy publishes can show
    # a large ratio while the tasks are slower than the SDK's.
    local rt
    rt=$(ratio "$ds" "$dk")
    verdict=$(awk -v r="$r" -v t="$rt" -v g="$goal" 'BEGIN {
      if (r + 0 >= g && (t == "–" || t + 0 >= g)) print "met"
      else if (r + 0 >= g) print "missed (tasks alone " t "×)"
      else print "missed" }')
  fi
  printf '| %s | %s | %s | %s | %s | %s | %s | %s / %s (%s) | ≥ %s×: %s |\n' "$state" "$(fmt "$p")" "$(fmt "$s")" "$(fmt "$k")" \
    "$(fmt "$ss")" "$kcell" "$r" "$(fmt "$ds")" "$(fmt "$dk")" "$(ratio "$ds" "$dk")" "$goal" "$verdict"
}

# floor_line CPU-S CORES TASKS-S: issue 20's measure of a self-contained cold publish: the deflate floor (the level-6
# deflate CPU seconds of the Runtime layer's tar on one thread, divided by the cores: no containerizing with this
# compressor can take less wall time) against OciKit's cold container tasks alone ("nan" when not measured).
floor_line() {
  local cpu=$1 cores=$2 tasks=$3 floor
  floor=$(awk -v c="$cpu" -v n="$cores" 'BEGIN { if (c == "nan") print "nan"; else print c / n }')
  local line="deflate floor: $(fmt "$cpu") CPU-s / $cores cores = $(fmt "$floor") s"
  if [ "$tasks" = nan ] || [ "$floor" = nan ]; then
    printf '%s; OciKit cold tasks alone not measured\n' "$line"
  else
    local r
    r=$(ratio "$tasks" "$floor")
    printf '%s; OciKit cold tasks alone %s s = %s× (target ≤ 1.3×: %s)\n' "$line" "$(fmt "$tasks")" "$r" \
      "$(awk -v r="$r" 'BEGIN { print (r + 0 <= 1.3) ? "met" : "missed" }')"
  fi
}

selftest() {
  local failed=0
  check() {
    if [ "$2" != "$3" ]; then
      printf 'compare.sh selftest: %s\n  expected: %s\n  got:      %s\n' "$1" "$2" "$3" >&2
      failed=1
    fi
  }
  check "ratio by zero" "∞" "$(ratio 2.08 0)"
  check "ratio of nothing" "–" "$(ratio 0 0)"
  check "ratio unmeasured" "–" "$(ratio nan 1)"
  check "ratio" "1.50" "$(ratio 3 2)"
  check "skipped warm step with a negative subtraction" \
    "| warm | 1.18 | 3.37 | 1.10 | 2.19 | skipped | ∞ | 2.08 / 0.00 (∞) | ≥ 5×: met (up to date: skipped) |" \
    "$(msbuild_row warm 1.18 3.37 1.10 2.08 0 4 0)"
  check "skipped warm step with a small positive subtraction" \
    "| warm | 1.18 | 3.37 | 1.22 | 2.19 | skipped | ∞ | 2.08 / 0.00 (∞) | ≥ 5×: met (up to date: skipped) |" \
    "$(msbuild_row warm 1.18 3.37 1.22 2.08 0 4 0)"
  check "cold step that ran" \
    "| cold | 3.56 | 5.49 | 5.14 | 1.93 | 1.58 | 1.22 | 2.08 / 1.56 (1.33) | ≥ 2×: missed |" \
    "$(msbuild_row cold 3.56 5.49 5.14 2.08 1.56 4 1)"
  check "changed step that ran" \
    "| change | 3.07 | 5.34 | 3.40 | 2.27 | 0.33 | 6.88 | 2.02 / 0.28 (7.21) | ≥ 5×: met |" \
    "$(msbuild_row change 3.07 5.34 3.40 2.02 0.28 4 1)"
  check "step ratio met but the tasks alone slower" \
    "| cold | 2.55 | 2.82 | 2.59 | 0.27 | 0.04 | 6.75 | 0.28 / 0.36 (0.78) | ≥ 2×: missed (tasks alone 0.78×) |" \
    "$(msbuild_row cold 2.55 2.82 2.59 0.28 0.36 4 1)"
  check "step that ran but is within the noise" \
    "| change | 3.07 | 5.34 | 3.00 | 2.27 | -0.07 | – | 2.02 / 0.28 (7.21) | ≥ 5×: not measured (OciKit step within the noise) |" \
    "$(msbuild_row change 3.07 5.34 3.00 2.02 0.28 4 1)"
  check "OciKit side not measured" \
    "| warm | 1.18 | 3.37 | – | 2.19 | – | – | 2.08 / – (–) | ≥ 5×: not measured |" \
    "$(msbuild_row warm 1.18 3.37 nan 2.08 nan 4 nan)"
  check "both sides skipped" \
    "| warm | 1.18 | 1.20 | 1.19 | 0.02 | skipped | – | 0.00 / 0.00 (–) | ≥ 5×: not measured (both skipped) |" \
    "$(msbuild_row warm 1.18 1.20 1.19 0 0 0 0)"
  check "deflate floor, target missed" \
    "deflate floor: 1.19 CPU-s / 2 cores = 0.59 s; OciKit cold tasks alone 1.23 s = 2.08× (target ≤ 1.3×: missed)" \
    "$(floor_line 1.185 2 1.23)"
  check "deflate floor, target met" \
    "deflate floor: 1.60 CPU-s / 2 cores = 0.80 s; OciKit cold tasks alone 1.04 s = 1.30× (target ≤ 1.3×: met)" \
    "$(floor_line 1.6 2 1.04)"
  check "deflate floor, OciKit not measured" \
    "deflate floor: 1.19 CPU-s / 2 cores = 0.59 s; OciKit cold tasks alone not measured" \
    "$(floor_line 1.185 2 nan)"
  if [ $failed -eq 0 ]; then echo "compare.sh selftest: passed"; fi
  return $failed
}

if [ "${1:-}" = --selftest ]; then
  selftest
  exit
fi

reps=3
results=""
source_dir=""
baseline=""
while getopts "n:o:s:b:h" opt; do
  case "$opt" in
    n) reps=$OPTARG ;;
    s) source_dir=$OPTARG ;;
    b) baseline=$(cd "$OPTARG" && pwd) ;;
    o) results=$OPTARG ;;
    *) sed -n '2,34p' "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
sections=("$@")
[ ${#sections[@]} -gt 0 ] || sections=(layer memory copy msbuild run)

repo=$(cd "$(dirname "$0")/.." && pwd)
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
for tool in tar gzip pigz sha256sum docker-registry skopeo curl /usr/bin/time dotnet; do
  command -v "$tool" >/dev/null || { echo "compare.sh: '$tool' is missing (test.sh installs the Debian packages)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/ocikit-compare.XXXXXX)
# The storage options of each buildah storage section d made: emptied (containers, images, their mounts) on exit.
buildah_storages=()
# Section d's folder: buildah names an image pulled from an OCI layout after the layout's path, which must be lower
# case (mktemp's is not).
run_dir=""
cleanup_buildah() {
  local storage
  for storage in "${buildah_storages[@]}"; do
    # shellcheck disable=SC2086 # one string of options per storage
    buildah $storage rm -a >/dev/null 2>&1 || true
    # shellcheck disable=SC2086
    buildah $storage rmi -a -f >/dev/null 2>&1 || true
  done
  [ -z "$run_dir" ] || rm -rf "$run_dir"
}

registry_pid=""
packed_version=""
packed_baseline=""
cleanup() {
  stop_registry
  cleanup_buildah
  rm -rf "$work"
  # The package this run packed, restored into NuGet's global folder under its one-off version.
  [ -z "$packed_version" ] || rm -rf "${NUGET_PACKAGES:-$HOME/.nuget/packages}/ocikit.msbuild/$packed_version"
  [ -z "$packed_baseline" ] || rm -rf "${NUGET_PACKAGES:-$HOME/.nuget/packages}/ocikit.msbuild/$packed_baseline"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
data="$work/measurements.tsv"   # section, tool, rep, wall s, peak RSS KB, user+sys s, output bytes
: >"$data"
[ -n "$results" ] || results=/dev/null
out() { printf '%s\n' "$*" | tee -a "$results"; }
[ "$results" = /dev/null ] || : >"$results"

# --- measuring -----------------------------------------------------------------------------------------------------------
# measure SECTION TOOL REP OUTPUT-FILE-OR-- COMMAND...: runs COMMAND under /usr/bin/time (wall, the peak RSS of the
# largest process, user+sys CPU of all of them) and records it; OUTPUT's size is recorded when it is a file.
measure() {
  local section=$1 tool=$2 rep=$3 output=$4
  shift 4
  local t="$work/time.$$"
  if ! /usr/bin/time -f '%e %M %U %S' -o "$t" "$@" >"$work/last.log" 2>&1; then
    echo "compare.sh: $section/$tool failed:" >&2
    tail -n 30 "$work/last.log" >&2
    return 1
  fi
  local size=0
  [ "$output" != "-" ] && [ -e "$output" ] && size=$(du -sb "$output" | cut -f1)
  read -r wall rss user sys <"$t"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$section" "$tool" "$rep" "$wall" "$rss" "$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')" "$size" >>"$data"
  printf '  %-28s rep %s: %6.2f s  %7d KB RSS  %s bytes\n' "$tool" "$rep" "$wall" "$rss" "$size" >&2
}

# median SECTION TOOL COLUMN (4 wall, 5 rss, 6 cpu, 7 size)
median() {
  awk -F'\t' -v s="$1" -v t="$2" -v c="$3" '$1 == s && $2 == t { print $c }' "$data" | sort -g |
    awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# --- the loopback registry (configured as tests/OciKit.IntegrationTests/Harness/RegistryServer.cs does) -----------------
registry_host=""
start_registry() {
  local attempt
  # A port can be taken between the check and the registry's bind (another process, a test): a few ports are tried.
  for attempt in 1 2 3 4 5; do
    start_registry_once && return 0
    grep -q "address already in use" "$work/registry/registry.log" 2>/dev/null || break
  done
  echo "compare.sh: docker-registry did not start:" >&2
  cat "$work/registry/registry.log" >&2
  return 1
}
start_registry_once() {
  stop_registry
  local dir="$work/registry"
  rm -rf "$dir" && mkdir -p "$dir/storage"
  local port
  while :; do
    # Below Linux's ephemeral range (32768 and up by default), which outgoing connections take ports from.
    port=$((20000 + RANDOM % 12000))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break
  done
  cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: warn
  formatter: text
  accesslog:
    disabled: ${registry_accesslog_disabled:-true}
storage:
  filesystem:
    rootdirectory: $dir/storage
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$port
  secret: ocikit-compare-secret
EOF
  docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
  registry_pid=$!
  registry_host="127.0.0.1:$port"
  for _ in $(seq 100); do
    curl -fsS "http://$registry_host/v2/" >/dev/null 2>&1 && return 0
    kill -0 "$registry_pid" 2>/dev/null || break
    sleep 0.1
  done
  stop_registry
  return 1
}
stop_registry() {
  if [ -n "$registry_pid" ]; then
    kill "$registry_pid" 2>/dev/null || true
    wait "$registry_pid" 2>/dev/null || true
    registry_pid=""
  fi
}

# --- builds --------------------------------------------------------------------------------------------------------------
bench_bin="$repo/benchmarks/OciKit.Benchmarks/bin/Release/net10.0/OciKit.Benchmarks"
# The CLI as the README tells users to install it for speed: published for this machine's runtime (NativeAOT).
cli_rid=linux-$(uname -m | sed 's/x86_64/x64/; s/aarch64/arm64/')
cli_bin="$work/ocikit-cli/OciKit.Cli"
echo "compare.sh: building Release" >&2
dotnet build "$repo/benchmarks/OciKit.Benchmarks" -c Release -nologo -clp:ErrorsOnly >"$work/build.log" 2>&1 ||
  { cat "$work/build.log" >&2; exit 1; }
# (only sections c and d run it: the NativeAOT publish takes minutes)
if [[ " ${sections[*]} " == *" copy "* || " ${sections[*]} " == *" run "* ]]; then
  dotnet publish "$repo/samples/OciKit.Cli" -c Release -r "$cli_rid" -o "$work/ocikit-cli" -nologo -clp:ErrorsOnly >>"$work/build.log" 2>&1 ||
    { cat "$work/build.log" >&2; exit 1; }
fi

# Whether this build of the CLI lists the verb (System.CommandLine answers `VERB --help` with the root help otherwise).
cli_has() { "$cli_bin" --help 2>/dev/null | grep -qE "^ +$1( |$)"; }

# The ~600 MB input: a copy of the machine's .NET install (read from the copy, so every tool reads the same files).
dotnet_root=${source_dir:-$(dirname "$(readlink -f "$(command -v dotnet)")")}
input="$work/input"
make_input() {
  [ -d "$input" ] && return 0
  mkdir -p "$input"
  cp -a "$dotnet_root/." "$input/"
  # Into the page cache for every tool alike: the comparison is CPU and pipeline, not the disk.
  find "$input" -type f -exec cat {} + >/dev/null
}

# --- machine facts --------------------------------------------------------------------------------------------------------
out "## compare.sh run of $(date -u '+%Y-%m-%d %H:%M UTC')"
out ""
out "Machine: $(nproc) cores ($(lscpu | sed -n 's/^Model name: *//p' | head -n 1)), $(free -g | awk '/^Mem:/ { print $2 }') GiB," \
  "$(. /etc/os-release && echo "$PRETTY_NAME"), .NET SDK $(dotnet --version), commit $(git -C "$repo" rev-parse --short HEAD)." \
  "Load average at the start: $(cut -d' ' -f1-3 /proc/loadavg). $reps repetitions, medians; ratio = peer / OciKit (> 1: OciKit is faster)."
out ""
loads=()
note_load() { loads+=("$1 $(cut -d' ' -f1 /proc/loadavg)"); }

# GNU tar made as deterministic as it gets (what a reproducible-build script would pass).
tar_flags=(--sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner)

# --- a. layer from a ~600 MB directory -------------------------------------------------------------------------------------
section_layer() {
  echo "compare.sh: a. layer from a directory" >&2
  make_input
  local size_in
  size_in=$(du -sb "$input" | cut -f1)
  local o="$work/out"
  mkdir -p "$o"
  # Markdown cells: a literal '|' is written '\|'.
  # pigz -3 and -4 bracket the size of OciKit's default (zlib-ng 6 compresses less than zlib 6), for the
  # comparison at equal size; OciKit's smallest (zlib-ng 9) is the one at or below pigz -6's size.
  local tools=("OciKit (gzip 6)" "OciKit (smallest: zlib-ng 9)" "tar \| gzip -6 + sha256sum" "tar \| pigz -6" "tar \| pigz -6 + sha256sum" "tar \| pigz -4" "tar \| pigz -3")
  for rep in $(seq "$reps"); do
    measure layer "${tools[0]}" "$rep" "$o/ocikit.tgz" "$bench_bin" layer "$input" "$o/ocikit.tgz"
    measure layer "${tools[1]}" "$rep" "$o/ocikit9.tgz" "$bench_bin" layer "$input" "$o/ocikit9.tgz" --level smallest
    measure layer "${tools[2]}" "$rep" "$o/gzip.tgz" bash -c \
      'tar "${@:3}" -cf - -C "$1" . | gzip -6 >"$2" && sha256sum "$2" >/dev/null' _ "$input" "$o/gzip.tgz" "${tar_flags[@]}"
    measure layer "${tools[3]}" "$rep" "$o/pigz.tgz" bash -c \
      'tar "${@:3}" -cf - -C "$1" . | pigz -6 >"$2"' _ "$input" "$o/pigz.tgz" "${tar_flags[@]}"
    measure layer "${tools[4]}" "$rep" "$o/pigzsha.tgz" bash -c \
      'tar "${@:3}" -cf - -C "$1" . | pigz -6 | tee "$2" | sha256sum >/dev/null' _ "$input" "$o/pigzsha.tgz" "${tar_flags[@]}"
    measure layer "${tools[5]}" "$rep" "$o/pigz4.tgz" bash -c \
      'tar "${@:3}" -cf - -C "$1" . | pigz -4 >"$2"' _ "$input" "$o/pigz4.tgz" "${tar_flags[@]}"
    measure layer "${tools[6]}" "$rep" "$o/pigz3.tgz" bash -c \
      'tar "${@:3}" -cf - -C "$1" . | pigz -3 >"$2"' _ "$input" "$o/pigz3.tgz" "${tar_flags[@]}"
    note_load "layer rep $rep"
  done

  # The OciKit blobs are valid gzip, and the same bytes every repetition (the digests printed by each run agree).
  gzip -t "$o/ocikit.tgz" "$o/ocikit9.tgz"

  local base
  base=$(median layer "${tools[0]}" 4)
  out "### a. One layer from a directory ($((size_in / 1000000)) MB, $(find "$input" -type f | wc -l) files: a copy of $dotnet_root)"
  out ""
  out "OciKit is one whole process (\`OciKit.Benchmarks layer DIR OUT\`: walk, tar, diffID SHA-256, parallel gzip, digest" \
    "SHA-256, file), startup included. The peers compute fewer digests: gzip + sha256sum the blob digest only, pigz none."
  out ""
  out "| tool | wall s (median) | ratio to OciKit gzip 6 | CPU s | peak RSS MB | compressed MB | size vs OciKit gzip 6 |"
  out "|---|---:|---:|---:|---:|---:|---:|"
  local ocsize
  ocsize=$(median layer "${tools[0]}" 7)
  for t in "${tools[@]}"; do
    local w c r s
    w=$(median layer "$t" 4); c=$(median layer "$t" 6); r=$(median layer "$t" 5); s=$(median layer "$t" 7)
    out "| $t | $(fmt "$w") | $(ratio "$w" "$base") | $(fmt "$c") | $(div "$r" 1024 0) | $(div "$s" 1000000) | $(ratio "$s" "$ocsize") |"
  done
  out ""
}

# --- memory: a ~2.5 GB layer ----------------------------------------------------------------------------------------------
section_memory() {
  echo "compare.sh: memory of a ~2.5 GB layer build" >&2
  make_input
  local big="$work/big"
  mkdir -p "$big"
  for i in 1 2 3 4; do cp -a "$input" "$big/copy$i"; done
  # Distinct content per copy, so the tar really is 4× the input (gzip would not care, but be honest about the bytes).
  local size_in
  size_in=$(du -sb "$big" | cut -f1)
  find "$big" -type f -exec cat {} + >/dev/null
  measure memory "OciKit 2.5 GB layer" 1 "$work/big.tgz" "$bench_bin" layer "$big" "$work/big.tgz"
  note_load "memory"
  local r w
  r=$(median memory "OciKit 2.5 GB layer" 5); w=$(median memory "OciKit 2.5 GB layer" 4)
  out "### Peak memory of a large layer build"
  out ""
  out "| input | wall s | peak RSS MB | target |"
  out "|---|---:|---:|---|"
  out "| $((size_in / 1000000)) MB directory (4 copies of the input above) | $(fmt "$w") | $(div "$r" 1024 0) | < 300 MB: $(awk -v r="$r" 'BEGIN { print (r / 1024 < 300) ? "met" : "missed" }') |"
  out ""
  rm -rf "$big" "$work/big.tgz"
}

# --- c. ocikit copy / pull vs skopeo ---------------------------------------------------------------------------------------
section_copy() {
  echo "compare.sh: c. copy and pull" >&2
  if ! cli_has copy || ! cli_has pull; then
    out "### c. ocikit copy / pull vs skopeo: skipped (this build of ocikit has no \`copy\`/\`pull\` verb yet)"
    out ""
    return 0
  fi
  make_input
  local layout="$work/layout"
  # One layer per top-level directory of the input, the largest left out (for the .NET install: the 400 MB sdk/).
  local layer_dirs=()
  mapfile -t layer_dirs < <(du -s "$input"/*/ | sort -n | head -n -1 | tail -n 5 | cut -f2)
  [ ${#layer_dirs[@]} -gt 0 ] || layer_dirs=("$input")
  "$bench_bin" image "$layout" bench \
    "${layer_dirs[@]}" >"$work/image.log"
  local blob_bytes layout_manifest
  blob_bytes=$(du -sb "$layout/blobs" | cut -f1)
  layout_manifest=$(sed -n 's/^manifest=sha256:\([0-9a-f]*\).*/\1/p' "$work/image.log")
  # Global options as issue 7 names them, passed only where this build of the CLI has them.
  cli_opts() {
    local help
    help=$("$cli_bin" "$1" --help 2>&1)
    grep -q -- --insecure-registry <<<"$help" && printf '%s\n' --insecure-registry "$registry_host"
    grep -q -- --no-progress <<<"$help" && printf '%s\n' --no-progress
    grep -q -- --quiet <<<"$help" && printf '%s\n' --quiet
    [ "$1" = pull ] && grep -q -- --store <<<"$help" && printf '%s\n' --store "$2"
    true
  }
  for rep in $(seq "$reps"); do
    # A fresh, empty registry per tool and repetition: every push uploads every blob, nothing is mounted.
    start_registry
    measure push "skopeo copy" "$rep" - skopeo copy --quiet --dest-tls-verify=false "oci:$layout:bench" "docker://$registry_host/bench/img:1"
    measure pull "skopeo copy" "$rep" "$work/pull-skopeo-$rep" skopeo copy --quiet --src-tls-verify=false "docker://$registry_host/bench/img:1" "oci:$work/pull-skopeo-$rep:img"
    mapfile -t opts < <(cli_opts pull "$work/pull-ocikit-$rep")
    OCIKIT_STORE="$work/pull-ocikit-$rep" measure pull "ocikit pull" "$rep" "$work/pull-ocikit-$rep" \
      "$cli_bin" pull "$registry_host/bench/img:1" "${opts[@]}"
    start_registry
    mapfile -t opts < <(cli_opts copy)
    measure push "ocikit copy" "$rep" - "$cli_bin" copy "oci:$layout:bench" "$registry_host/bench/img:1" "${opts[@]}"
    # The pushed image is the layout's image, byte for byte.
    [ "$(skopeo inspect --raw --tls-verify=false "docker://$registry_host/bench/img:1" | sha256sum | cut -c1-64)" = "$layout_manifest" ] ||
      { echo "compare.sh: ocikit copy pushed another manifest than the layout's" >&2; return 1; }
    rm -rf "$work/pull-skopeo-$rep" "$work/pull-ocikit-$rep"
    note_load "copy rep $rep"
  done
  stop_registry
  out "### c. Push an OCI layout of a ${#layer_dirs[@]}-layer image ($((blob_bytes / 1000000)) MB of blobs) to a loopback registry, and pull it back"
  out ""
  out "| operation | OciKit s | skopeo s | ratio skopeo / OciKit | OciKit peak RSS MB | skopeo peak RSS MB |"
  out "|---|---:|---:|---:|---:|---:|"
  local ow sw
  ow=$(median push "ocikit copy" 4); sw=$(median push "skopeo copy" 4)
  out "| push: \`ocikit copy oci:DIR:TAG REF\` vs \`skopeo copy oci:… docker://…\` | $(fmt "$ow") | $(fmt "$sw") | $(ratio "$sw" "$ow") | $(div "$(median push "ocikit copy" 5)" 1024 0) | $(div "$(median push "skopeo copy" 5)" 1024 0) |"
  ow=$(median pull "ocikit pull" 4); sw=$(median pull "skopeo copy" 4)
  out "| pull: \`ocikit pull REF --store DIR\` vs \`skopeo copy docker://… oci:DIR:TAG\` | $(fmt "$ow") | $(fmt "$sw") | $(ratio "$sw" "$ow") | $(div "$(median pull "ocikit pull" 5)" 1024 0) | $(div "$(median pull "skopeo copy" 5)" 1024 0) |"
  out ""
}

# --- b. MSBuild: OciPublish vs PublishContainer ---------------------------------------------------------------------------
# The cases of section b (MSBUILD_CASES narrows them: a space-separated subset):
#   sc-console  a self-contained console app onto busybox (the 70 MB runtime layer is compressed: deflate dominates)
#   fd-console  a framework-dependent console app onto a runtime-like base (busybox, deps, .NET runtime, link layers)
#   fd-web      samples/web-app (a web app and a referenced library), framework-dependent, onto an aspnet-like base
#               (the runtime-like base's layers plus an ASP.NET Core layer)
# The two framework-dependent cases are where most apps are: the app layer is a few hundred KB, the base only mounted.
msbuild_cases=${MSBUILD_CASES:-sc-console fd-console fd-web}

# msbuild_bases: the three bases, written by OciKit's image command from local content (no Docker Hub here), as OCI
# layouts pushed into each cold repetition's fresh registry with skopeo.
msbuild_bases() {
  local bb="$work/base/busybox" deps="$work/base/deps" rt="$work/base/runtime" link="$work/base/link" asp="$work/base/aspnet"
  local dotnet_home
  dotnet_home=$(dirname "$(readlink -f "$(command -v dotnet)")")
  mkdir -p "$bb/bin" "$deps/etc/ssl/certs" "$deps/usr/lib" "$rt/usr/share/dotnet/shared" "$link/usr/bin" "$asp/usr/share/dotnet/shared"
  cp "$(command -v busybox)" "$bb/bin/busybox"
  ln -sf busybox "$bb/bin/sh"
  # What the real runtime-deps layer brings: CA certificates and the C++ runtime.
  cp -L /etc/ssl/certs/ca-certificates.crt "$deps/etc/ssl/certs/" 2>/dev/null || true
  cp -L /usr/lib/*-linux-gnu/libstdc++.so.6 /usr/lib/*-linux-gnu/libgcc_s.so.1 "$deps/usr/lib/" 2>/dev/null || true
  cp -a "$dotnet_home/dotnet" "$dotnet_home/host" "$rt/usr/share/dotnet/"
  cp -a "$dotnet_home/shared/Microsoft.NETCore.App" "$rt/usr/share/dotnet/shared/"
  ln -sf ../share/dotnet/dotnet "$link/usr/bin/dotnet"
  cp -a "$dotnet_home/shared/Microsoft.AspNetCore.App" "$asp/usr/share/dotnet/shared/"
  "$bench_bin" image "$work/layout-busybox" latest "$bb" --entrypoint /bin/sh >/dev/null
  "$bench_bin" image "$work/layout-runtime" latest "$bb" "$deps" "$rt" "$link" >/dev/null
  "$bench_bin" image "$work/layout-aspnet" latest "$bb" "$deps" "$rt" "$link" "$asp" >/dev/null
}

# msbuild_app CASE DIR VERSION RID: writes the case's project into DIR and prints its project file's path.
msbuild_app() {
  local case=$1 dir=$2 version=$3 rid=$4
  rm -rf "$dir" && mkdir -p "$dir"
  cat >"$dir/nuget.config" <<EOF
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <add key="ocikit-compare" value="$work/feed" />
  </packageSources>
</configuration>
EOF
  case "$case" in
    fd-web)
      cp -a "$repo/samples/web-app/." "$dir/"
      # OciKit's package only in the OciPublish runs, so plain publish and PublishContainer pay nothing for its targets.
      sed -i 's|<PackageReference Include="OciKit.MSBuild"|<PackageReference Condition="'"'"'$(UseOciKit)'"'"' == '"'"'true'"'"'" Include="OciKit.MSBuild"|' "$dir/WebApp/WebApp.csproj"
      grep -q "UseOciKit" "$dir/WebApp/WebApp.csproj" || { echo "compare.sh: could not make OciKit optional in the web sample" >&2; return 1; }
      echo "$dir/WebApp/WebApp.csproj"
      return 0 ;;
  esac
  local rid_props="<RuntimeIdentifier>$rid</RuntimeIdentifier><SelfContained>true</SelfContained>"
  [ "$case" = fd-console ] && rid_props="<SelfContained>false</SelfContained>"
  cat >"$dir/app.csproj" <<EOF
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <OutputType>Exe</OutputType>
    <TargetFramework>net10.0</TargetFramework>
    <ImplicitUsings>enable</ImplicitUsings>
    <Nullable>enable</Nullable>
    $rid_props
    <EnableSdkContainerSupport>true</EnableSdkContainerSupport>
  </PropertyGroup>
  <!-- Only in the OciPublish runs, so plain publish and PublishContainer pay nothing for OciKit's targets. -->
  <ItemGroup Condition="'\$(UseOciKit)' == 'true'">
    <PackageReference Include="OciKit.MSBuild" Version="\$(OciKitVersion)" PrivateAssets="all" />
  </ItemGroup>
</Project>
EOF
  echo "$dir/app.csproj"
}

# msbuild_source CASE DIR REP CHANGED: the one line of source each repetition (and the one-line change) rewrites.
msbuild_source() {
  local case=$1 dir=$2 rep=$3 changed=$4
  local text="hello $rep"
  [ "$changed" = yes ] && text="hello $rep, changed"
  if [ "$case" = fd-web ]; then
    cp "$repo/samples/web-app/WebApp/Program.cs" "$dir/WebApp/Program.cs"
    sed -i "s|Greeter.Greet(\"web\")|Greeter.Greet(\"$text\")|" "$dir/WebApp/Program.cs"
  else
    printf 'Console.WriteLine("%s");\n' "$text" >"$dir/Program.cs"
  fi
}

section_msbuild() {
  echo "compare.sh: b. MSBuild" >&2
  local msbuild_proj="$repo/src/OciKit.MSBuild/OciKit.MSBuild.csproj"
  # Without the msbuild branch's OciPublish target only the peers are measured (the OciKit columns stay empty).
  local tools=(plain sdk ocikit)
  if ! grep -rqs "OciPublish" "$repo/src/OciKit.MSBuild" --include='*.targets'; then
    echo "compare.sh: src/OciKit.MSBuild defines no OciPublish target yet: measuring plain publish and PublishContainer only" >&2
    tools=(plain sdk)
  fi
  local feed="$work/feed"
  mkdir -p "$feed"
  local version=0.0.0
  if [ ${#tools[@]} -eq 3 ]; then
    # A one-off version: NuGet's global packages folder keeps any earlier package of the same version, and restoring
    # that instead of the tree being measured would silently benchmark old code.
    version="0.0.0-compare.$(date +%s).$$"
    packed_version="$version"
    dotnet pack "$msbuild_proj" -c Release -o "$feed" -nologo -clp:ErrorsOnly "-p:Version=$version" >"$work/pack.log" 2>&1 || { cat "$work/pack.log" >&2; return 1; }
    if [ -n "$baseline" ]; then
      packed_baseline="$version.baseline"
      dotnet pack "$baseline/src/OciKit.MSBuild/OciKit.MSBuild.csproj" -c Release -o "$feed" -nologo -clp:ErrorsOnly "-p:Version=$packed_baseline" >"$work/pack.log" 2>&1 || { cat "$work/pack.log" >&2; return 1; }
      tools+=(baseline)
    fi
  fi
  msbuild_bases

  local rid
  rid=linux-$(uname -m | sed 's/x86_64/x64/; s/aarch64/arm64/')
  # The container step measured directly as well: MSBuild's own time for the tasks each side declares with UsingTask
  # (the SDK's CreateNewImage and friends; OciKitContainerize). The subtraction of two whole publishes is at the mercy
  # of the machine's load; this is not. (Target times would not do: the SDK's PublishContainer calls Publish inside.)
  local sdk_tasks ocikit_tasks
  sdk_tasks=$(cat "$(dirname "$(readlink -f "$(command -v dotnet)")")/sdk/$(dotnet --version)"/Containers/build/*.{props,targets} |
    grep -o '<UsingTask[^>]*TaskName="[^"]*"' | sed 's/.*TaskName="//; s/"$//; s/.*\.//' | tr '\n' ' ')
  ocikit_tasks=$(cat "$repo"/src/OciKit.MSBuild/build/*.targets |
    grep -o '<UsingTask[^>]*TaskName="[^"]*"' | sed 's/.*TaskName="//; s/"$//; s/.*\.//' | tr '\n' ' ')
  export DOTNET_CONTAINER_INSECURE_REGISTRIES
  local case
  for case in $msbuild_cases; do
    local base=busybox
    case "$case" in
      fd-console) base=runtime ;;
      fd-web) base=aspnet ;;
      sc-console) ;;
      *) echo "compare.sh: unknown MSBuild case '$case'" >&2; return 2 ;;
    esac
    local dir="$work/app-$case" proj
    proj=$(msbuild_app "$case" "$dir" "$version" "$rid")
    local publish=(dotnet publish "$proj" -c Release --disable-build-servers -nologo -clp:ErrorsOnly
      "-flp:PerformanceSummary;Verbosity=quiet;LogFile=$work/msbuild-perf.log")
    local props=(-p:ContainerRegistry=placeholder -p:ContainerRepository=bench/app -p:ContainerImageTag=1 -p:OciKitVersion="$version")
    for rep in $(seq "$reps"); do
      for tool in "${tools[@]}"; do
        # Cold: a clean project (restored, not built), an empty registry holding only the base, empty caches.
        find "$dir" -type d \( -name bin -o -name obj \) -prune -exec rm -rf {} +
        rm -rf "$work/store" "$work/tmp"
        mkdir -p "$work/tmp"
        msbuild_source "$case" "$dir" "$rep" no
        start_registry
        skopeo copy --quiet --dest-tls-verify=false "oci:$work/layout-$base:latest" "docker://$registry_host/$base:latest"
        DOTNET_CONTAINER_INSECURE_REGISTRIES=$registry_host
        props[0]=-p:ContainerRegistry="$registry_host"
        local target=()
        props[3]=-p:OciKitVersion="$version"
        case "$tool" in
          sdk) target=(-t:PublishContainer) ;;
          # The registry cache in the target repository (issue 19): written by every push, read by the fresh agent.
          ocikit) target=(-t:OciPublish -p:UseOciKit=true -p:ContainerCacheRepository=bench/app) ;;
          baseline) target=(-t:OciPublish -p:UseOciKit=true -p:ContainerCacheRepository=bench/app); props[3]=-p:OciKitVersion="$packed_baseline" ;;
        esac
        dotnet restore "$proj" -nologo "${target[@]:1}" "${props[3]}" >"$work/restore.log" 2>&1 || { cat "$work/restore.log" >&2; return 1; }
        local state
        for state in cold warm change fresh; do
          [ "$state" = change ] && msbuild_source "$case" "$dir" "$rep" yes
          if [ "$state" = fresh ]; then
            # Another machine: the same (changed) sources, a clean project (restored, not built) and an empty store;
            # the registry holds what the change state pushed (and, for OciKit, its cache records).
            find "$dir" -type d \( -name bin -o -name obj \) -prune -exec rm -rf {} +
            rm -rf "$work/store" "$work/tmp" && mkdir -p "$work/tmp"
            dotnet restore "$proj" -nologo "${target[@]:1}" "${props[3]}" >"$work/restore.log" 2>&1 || { cat "$work/restore.log" >&2; return 1; }
          fi
          OCIKIT_STORE="$work/store" TMPDIR="$work/tmp" measure "msbuild-$case-$state" "$tool" "$rep" - \
            "${publish[@]}" --no-restore "${target[@]}" "${props[@]}" -p:ContainerBaseImage="$registry_host/$base:latest"
          if [ "$tool" != plain ]; then
            local names=$sdk_tasks
            [ "$tool" != sdk ] && names=$ocikit_tasks
            awk -v names=" $names " -v tool="$tool" -v rep="$rep" -v state="$state" -v case="$case" '
              /^Task Performance Summary:/ { on = 1; next }
              on && /^$/ { on = 0 }
              on && $2 == "ms" && index(names, " " $3 " ") { ms += $1; calls += $4 }
              END {
                printf "msbuild-direct-%s-%s\t%s\t%s\t%.3f\t0\t0\t0\n", case, state, tool, rep, ms / 1000
                # How often the tasks ran: 0 when MSBuild skipped the target as up to date (Inputs/Outputs).
                printf "msbuild-calls-%s-%s\t%s\t%s\t%d\t0\t0\t0\n", case, state, tool, rep, calls
              }' "$work/msbuild-perf.log" >>"$data"
          fi
        done
        # The container targets really pushed the image.
        if [ "$tool" != plain ] && ! curl -fsS "http://$registry_host/v2/bench/app/tags/list" | grep -q '"1"'; then
          echo "compare.sh: $tool pushed no bench/app:1 to the registry ($case)" >&2
          return 1
        fi
        note_load "msbuild $case $tool rep $rep"
      done
    done
    # Where OciKit's task spends a cold run: one more cold OciPublish at detailed verbosity (not in the medians; with the
    # registry cache as the measured runs have it, so its reading and writing show too), its
    # `OciKit timing:` lines (time since the task started, JIT-compiled methods meanwhile, per step), and the requests
    # the registry saw from it (its access log, by method); with -b, the same cold run of the before side too.
    local timing="" requests="" requests_before=""
    if [ ${#tools[@]} -ge 3 ]; then
      local side
      for side in "$version" ${packed_baseline:+"$packed_baseline"}; do
        props[3]=-p:OciKitVersion="$side"
        find "$dir" -type d \( -name bin -o -name obj \) -prune -exec rm -rf {} +
        rm -rf "$work/store" && msbuild_source "$case" "$dir" 0 no
        registry_accesslog_disabled=false start_registry
        skopeo copy --quiet --dest-tls-verify=false "oci:$work/layout-$base:latest" "docker://$registry_host/$base:latest"
        props[0]=-p:ContainerRegistry="$registry_host"
        dotnet restore "$proj" -nologo -p:UseOciKit=true "${props[3]}" >"$work/restore.log" 2>&1
        local logged
        logged=$(wc -l <"$work/registry/registry.log")
        OCIKIT_STORE="$work/store" TMPDIR="$work/tmp" dotnet publish "$proj" -c Release --disable-build-servers -nologo --no-restore \
          -t:OciPublish -p:UseOciKit=true -p:ContainerCacheRepository=bench/app "${props[@]}" -p:ContainerBaseImage="$registry_host/$base:latest" \
          "-flp:Verbosity=detailed;LogFile=$work/msbuild-timing.log" -clp:ErrorsOnly >/dev/null 2>&1 || true
        local counted
        counted=$(tail -n +"$((logged + 1))" "$work/registry/registry.log" | grep -o '"[A-Z]* /v2/[^ ]* HTTP' |
          awk '{ m[substr($1, 2)]++; n++ } END { for (k in m) printf "%s %d, ", k, m[k]; printf "total %d", n }')
        if [ "$side" = "$version" ]; then
          timing=$(grep -oE 'OciKit timing( \(task\))?: .*' "$work/msbuild-timing.log" || true)
          requests=$counted
        else
          requests_before=$counted
        fi
      done
      props[3]=-p:OciKitVersion="$version"
    fi
    local what published
    published=$(du -sm "$(dirname "$proj")/bin/Release/net10.0/"*publish 2>/dev/null | cut -f1 | head -n 1 || true)
    [ -n "$published" ] || published=$(du -sm "$(dirname "$proj")"/bin/Release/net10.0/*/publish 2>/dev/null | cut -f1 | head -n 1)
    case "$case" in
      sc-console) what="a self-contained console app ($rid, ${published:-?} MB published) onto busybox" ;;
      fd-console) what="a framework-dependent console app (${published:-?} MB published) onto a runtime-like base (4 layers: busybox, deps, .NET runtime, link)" ;;
      fd-web) what="the web sample, framework-dependent (${published:-?} MB published), onto an aspnet-like base (5 layers: the runtime-like ones + ASP.NET Core)" ;;
    esac
    out "### b. $case: containerize $what in a loopback registry"
    out ""
    out "Container step = median of \`dotnet publish -t:TARGET\` minus median of plain \`dotnet publish\` in the same state" \
      "(cold: clean obj/bin, a new registry holding only the base, empty store; warm: nothing changed; change: one line of source;" \
      "fresh: another agent, i.e. clean obj/bin and an empty store, the registry holding what change pushed and OciKit's cache records). Build servers off." \
      "The container-tasks column is MSBuild's Task Performance Summary summed over the tasks each side declares" \
      "(SDK: ParseContainerProperties, ComputeDotnetBaseImageAndTag, CreateNewImage, CreateImageIndex; OciKit: OciKitContainerize)."
    out ""
    out "| state | plain publish s | SDK PublishContainer s | OciKit OciPublish s | SDK container step s | OciKit container step s | ratio SDK / OciKit | container tasks alone: SDK s / OciKit s (ratio) | target |"
    out "|---|---:|---:|---:|---:|---:|---:|---:|---|"
    for state in cold warm change fresh; do
      out "$(msbuild_row "$state" "$(median "msbuild-$case-$state" plain 4)" "$(median "msbuild-$case-$state" sdk 4)" \
        "$(median "msbuild-$case-$state" ocikit 4)" "$(median "msbuild-direct-$case-$state" sdk 4)" "$(median "msbuild-direct-$case-$state" ocikit 4)" \
        "$(median "msbuild-calls-$case-$state" sdk 4)" "$(median "msbuild-calls-$case-$state" ocikit 4)")"
    done
    out ""
    if [ "$case" = sc-console ]; then
      # Issue 20's target for this case: the cold tasks within 1.3× of the Runtime layer's deflate floor, measured here
      # on the published directory (the bench command's floor: the layer's exact tar, level 6, one thread, median of 3).
      local floor_out="" publish_dir="$(dirname "$proj")/bin/Release/net10.0/$rid/publish"
      [ -d "$publish_dir" ] && floor_out=$("$bench_bin" floor "$publish_dir" 2>&1) || true
      local floor_cpu
      floor_cpu=$(sed -n 's/.* cpu_s=\([0-9.]*\) .*/\1/p' <<<"$floor_out")
      if [ -n "$floor_cpu" ]; then
        out "$(floor_line "$floor_cpu" "$(nproc)" "$(median "msbuild-direct-$case-cold" ocikit 4)")"
        out "(Runtime layer: $(grep -oE 'files=[0-9]+ tar_bytes=[0-9]+ gzip_bytes=[0-9]+ level=[0-9]+' <<<"$floor_out"); CPU-s of the three runs: $(sed -n 's/.* runs=\([0-9.,]*\) .*/\1/p' <<<"$floor_out").)"
      else
        out "deflate floor: not measured (${floor_out:-no publish directory at $publish_dir})"
      fi
      out ""
    fi
    if [ -n "$baseline" ]; then
      out "Before/after in this run: OciKit.MSBuild packed from $(git -C "$baseline" rev-parse --short HEAD) (before) and from this tree (after)."
      out ""
      out "| state | before: OciPublish s | after: OciPublish s | before: tasks alone s | after: tasks alone s | ratio before / after (tasks) |"
      out "|---|---:|---:|---:|---:|---:|"
      for state in cold warm change fresh; do
        local bt at
        bt=$(median "msbuild-direct-$case-$state" baseline 4); at=$(median "msbuild-direct-$case-$state" ocikit 4)
        out "| $state | $(fmt "$(median "msbuild-$case-$state" baseline 4)") | $(fmt "$(median "msbuild-$case-$state" ocikit 4)") | $(fmt "$bt") | $(fmt "$at") | $(ratio "$bt" "$at") |"
      done
      out ""
    fi
    if [ -n "$timing" ]; then
      out "OciKit's task in one more cold run ($case, detailed log, not in the medians):"
      out ""
      out '```'
      out "$timing"
      out '```'
      out ""
      out "Registry requests of that cold OciPublish (access log, by method): $requests."
      [ -z "$requests_before" ] || out "The same cold run with the before side's package: $requests_before."
      out ""
    fi
  done
  stop_registry
}

# --- d. RUN steps: ocikit build vs buildah bud ------------------------------------------------------------------------------
# run_base DIR: the ~100 MB base of section d as an OCI layout DIR/layout, tag `bench`, from this machine's files:
# layer 1 busybox-static (with its applet links), /etc/passwd and /etc/group, the perl trees; layer 2 python3's library.
run_base() {
  local dir=$1 l1=$1/layer1 l2=$1/layer2 applet triplet
  triplet=$(gcc -dumpmachine)
  mkdir -p "$l1/bin" "$l1/etc" "$l1/usr/share" "$l1/usr/lib/$triplet" "$l2/usr/lib"
  cp "$(command -v busybox)" "$l1/bin/busybox"
  for applet in $(busybox --list); do [ "$applet" = busybox ] || ln -s busybox "$l1/bin/$applet"; done
  printf 'root:x:0:0:root:/root:/bin/sh\n' >"$l1/etc/passwd"
  printf 'root:x:0:\n' >"$l1/etc/group"
  cp -a /usr/share/perl "$l1/usr/share/"
  cp -a "/usr/lib/$triplet/perl" "$l1/usr/lib/$triplet/"
  # Debian's python3 (not one a version manager puts first on PATH, whose library may be several times the size).
  cp -a "$(/usr/bin/python3 -c 'import sysconfig; print(sysconfig.get_path("stdlib"))')" "$l2/usr/lib/"
  "$bench_bin" image "$dir/layout" bench "$l1" "$l2" >"$dir/image.log"
}

# stamp: each line of stdin prefixed with the seconds since the stamp started (bash's own clock).
stamp() {
  local start=$EPOCHREALTIME line
  while IFS= read -r line; do
    awk -v a="$start" -v b="$EPOCHREALTIME" -v l="$line" 'BEGIN { printf "%6.2f s  %s\n", b - a, l }'
  done
}

section_run() {
  echo "compare.sh: d. RUN steps" >&2
  if [ "$(id -u)" != 0 ]; then
    out "### d. RUN steps: skipped (needs root: runc, and buildah's storage with chroot isolation)"
    out ""
    return 0
  fi
  local tool
  for tool in busybox runc buildah /usr/bin/python3 perl gcc; do
    command -v "$tool" >/dev/null || { echo "compare.sh: '$tool' is missing (test.sh installs it)" >&2; return 1; }
  done
  if ! cli_has build || ! cli_has run; then
    out "### d. RUN steps: skipped (this build of ocikit has no \`build\`/\`run\` verb)"
    out ""
    return 0
  fi
  run_dir="/tmp/ocikit-compare-run.$$"
  local d=$run_dir
  mkdir "$d" && mkdir "$d/context"
  run_base "$d"
  local layout="$d/layout" base_bytes base_files
  base_bytes=$(du -sb "$d/layer1" "$d/layer2" | awk '{ s += $1 } END { print s }')
  base_files=$(find "$d/layer1" "$d/layer2" | wc -l)
  # The workload: a small write; an 8 MB file and a deleted directory (a whiteout); a walk of the python tree.
  cat >"$d/context/Dockerfile" <<'EOF'
FROM localhost/bench/base:1
RUN mkdir -p /app/data && echo hello > /app/data/greeting
RUN dd if=/dev/zero of=/app/blob bs=1M count=8 && rm -rf /usr/share/perl
RUN ls -R /usr/lib/python3* | wc -l > /app/count
EOF
  # Cold: from the layout to the built image in a fresh storage (OciKit: the blobs copied into a new store, the base
  # extracted by the build; buildah: `pull`, which stores the base extracted, and the build). Warm: the same storage
  # again, `--no-cache`. buildah keeps one layer per instruction with --layers, as docker and OciKit do (without it,
  # the steps of a stage go into one layer committed at the end).
  local ocikit_cold='"$1" --quiet --store "$2" copy "oci:$3:bench" "oci:$2:localhost/bench/base:1" &&
    "$1" --quiet --store "$2" build --runtime runc -t localhost/bench/out:1 "$4"'
  local ocikit_warm='"$1" --quiet --store "$2" build --runtime runc --no-cache -t localhost/bench/out:1 "$4"'
  local buildah_cold='id=$(buildah $2 pull -q "oci:$3:bench") && buildah $2 tag "$id" localhost/bench/base:1 &&
    buildah $2 bud -q --isolation chroot --layers -t localhost/bench/out:1 "$4"'
  local buildah_warm='buildah $2 bud -q --isolation chroot --layers --no-cache -t localhost/bench/out:1 "$4"'
  local tools=("OciKit (runc)" "buildah vfs" "buildah overlay") rep driver storage
  for rep in $(seq "$reps"); do
    measure run-cold "${tools[0]}" "$rep" - bash -c "$ocikit_cold" _ "$cli_bin" "$d/store-$rep" "$layout" "$d/context"
    measure run-warm "${tools[0]}" "$rep" - bash -c "$ocikit_warm" _ "$cli_bin" "$d/store-$rep" "$layout" "$d/context"
    for driver in vfs overlay; do
      storage="--root $d/buildah-$driver-$rep/root --runroot $d/buildah-$driver-$rep/run --storage-driver $driver"
      buildah_storages+=("$storage")
      measure run-cold "buildah $driver" "$rep" - bash -c "$buildah_cold" _ - "$storage" "$layout" "$d/context"
      measure run-warm "buildah $driver" "$rep" - bash -c "$buildah_warm" _ - "$storage" "$layout" "$d/context"
    done
    note_load "run rep $rep"
  done

  # The images are the same: a file list (and the new files' digests) taken inside a container of each.
  local check='find /app /bin /etc /usr | sort; md5sum /app/data/greeting /app/blob /app/count; cat /app/count'
  "$cli_bin" --quiet --store "$d/store-1" run localhost/bench/out:1 sh -c "$check" >"$d/ocikit.list"
  local container
  storage="--root $d/buildah-overlay-1/root --runroot $d/buildah-overlay-1/run --storage-driver overlay"
  # shellcheck disable=SC2086
  container=$(buildah $storage from -q localhost/bench/out:1)
  # shellcheck disable=SC2086
  buildah $storage run --isolation chroot "$container" -- sh -c "$check" >"$d/buildah.list"
  if ! diff -u "$d/buildah.list" "$d/ocikit.list" >"$d/list.diff"; then
    echo "compare.sh: the image OciKit built differs from buildah's (file list inside a container):" >&2
    head -n 40 "$d/list.diff" >&2
    return 1
  fi
  local listed
  listed=$(wc -l <"$d/ocikit.list")

  # Where OciKit's time goes: one more cold and one more warm build (not in the medians), each step's line stamped
  # when the CLI reports it (a step is reported when it is done), and the base's extraction alone.
  local timing_cold timing_warm extraction
  rm -rf "$d/store-t"
  "$cli_bin" --quiet --store "$d/store-t" copy "oci:$layout:bench" "oci:$d/store-t:localhost/bench/base:1"
  timing_cold=$("$cli_bin" --store "$d/store-t" build --runtime runc -t localhost/bench/out:1 "$d/context" 2>&1 | stamp | grep -v ' records \(in\|out\)$')
  timing_warm=$("$cli_bin" --store "$d/store-t" build --runtime runc --no-cache -t localhost/bench/out:1 "$d/context" 2>&1 | stamp | grep -v ' records \(in\|out\)$')
  extraction=$("$bench_bin" rootfs "$layout" bench "$d/rootfs")

  out "### d. RUN steps on a $((base_bytes / 1000000)) MB two-layer base ($base_files paths: busybox-static, perl, python3's library)"
  out ""
  out "\`ocikit build --runtime runc\` (the NativeAOT CLI) vs \`buildah bud --isolation chroot --layers\` (one layer per" \
    "step, as OciKit and docker) with the vfs and the overlay storage drivers; three RUN steps: \`mkdir\` + \`echo\`;" \
    "an 8 MB \`dd\` + \`rm -rf\` of a directory; \`ls -R | wc\` of the python tree. Cold: from the base's OCI layout" \
    "to the built image in a fresh storage (OciKit copies the blobs into a new store and extracts the base in the" \
    "build; buildah pulls, storing the base extracted, then builds). Warm: the same storage again, \`--no-cache\`."
  out ""
  out "| case | OciKit s | buildah vfs s | buildah overlay s | ratio vfs / OciKit | ratio overlay / OciKit |"
  out "|---|---:|---:|---:|---:|---:|"
  local case o v w
  for case in cold warm; do
    o=$(median "run-$case" "${tools[0]}" 4); v=$(median "run-$case" "${tools[1]}" 4); w=$(median "run-$case" "${tools[2]}" 4)
    out "| $case$([ "$case" = warm ] && echo ' (`--no-cache`)') | $(fmt "$o") | $(fmt "$v") | $(fmt "$w") | $(ratio "$v" "$o") | $(ratio "$w" "$o") |"
  done
  out ""
  out "Same image: a file list of /app /bin /etc /usr and the new files' digests taken by \`ocikit run\` and by" \
    "\`buildah run\` of the two images agree ($listed lines)."
  out ""
  out "Where OciKit's time goes (one more cold and warm build, not in the medians; each step's line stamped when the CLI" \
    "prints it, after the step is done; the extraction of the base alone by \`OciKit.Benchmarks rootfs\`: $extraction):"
  out ""
  out '```'
  out "cold:"
  out "$timing_cold"
  out "warm (--no-cache):"
  out "$timing_warm"
  out '```'
  out ""
}

for section in "${sections[@]}"; do
  case "$section" in
    layer) section_layer ;;
    memory) section_memory ;;
    copy) section_copy ;;
    msbuild) section_msbuild ;;
    run) section_run ;;
    *) echo "compare.sh: unknown section '$section'" >&2; exit 2 ;;
  esac
done

out "Load average (1 min) after each step: $(printf '%s; ' "${loads[@]}")"
[ "$results" = /dev/null ] || echo "compare.sh: results also in $results" >&2
