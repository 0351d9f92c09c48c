#!/usr/bin/env bash
# Runs every OciKit test on a Debian 12 machine with the .NET 10 SDK.
# Installs the real peers the integration tests drive (registry, skopeo, umoci, podman, runc, buildah, ...)
# when they are missing, restores, builds Release, runs all test projects and ends with one line:
#   N passed, N failed[, N skipped]
# Exits non-zero when anything failed or did not build.
set -uo pipefail
cd "$(dirname "$0")"

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

# --- 1. Tools the integration tests use (Debian package names) ---------------------------------------------------------
packages=(docker-registry skopeo umoci podman runc buildah busybox-static zstd pigz tar gzip git)
packages+=(bzip2 xz-utils)   # the ADD archive cases of the build corpus compress their archives with the real tools
packages+=(time)            # /usr/bin/time, for the peak-memory columns of benchmarks/compare.sh
packages+=(gcc libc6-dev zlib1g-dev)   # NativeAOT links the published CLI (tested below; measured by benchmarks/compare.sh)
packages+=(crun bubblewrap)  # the container runtimes RUN uses besides runc (Execution integration tests run each)
missing=()
for p in "${packages[@]}"; do
  if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "test.sh: missing Debian packages: ${missing[*]}; run as root or install them first" >&2
    echo "0 passed, 1 failed"
    exit 1
  fi
  echo "test.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || {
    echo "test.sh: apt-get install failed" >&2
    echo "0 passed, 1 failed"
    exit 1
  }
fi

# An unprivileged user for the rootless runtime tests (bwrap in a user namespace); tests never create users.
if ! id ocikit-rootless >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then
    useradd --system --create-home --shell /usr/sbin/nologin ocikit-rootless || echo "test.sh: could not create the user ocikit-rootless" >&2
  else
    echo "test.sh: the user ocikit-rootless is missing (the rootless runtime test needs it); run as root once" >&2
  fi
fi

# --- 2. Restore and build ----------------------------------------------------------------------------------------------
out=.test-output
rm -rf "$out" && mkdir -p "$out"
if ! dotnet restore OciKit.sln >"$out/restore.log" 2>&1; then
  tail -n 40 "$out/restore.log" >&2
  echo "0 passed, 1 failed"
  exit 1
fi
if ! dotnet build OciKit.sln -c Release --no-restore -nologo -clp:ErrorsOnly >"$out/build.log" 2>&1; then
  grep -E "error|Error" "$out/build.log" | sort -u | head -n 60 >&2
  echo "0 passed, 1 failed"
  exit 1
fi

# The CLI as the README tells users to publish it for speed (NativeAOT): CliProcessTests runs this executable.
rid=linux-$(uname -m | sed 's/x86_64/x64/; s/aarch64/arm64/')
if ! dotnet publish samples/OciKit.Cli -c Release -r "$rid" -o "$out/ocikit-native" -nologo -clp:ErrorsOnly >"$out/publish-cli.log" 2>&1; then
  grep -E "error|Error" "$out/publish-cli.log" | sort -u | head -n 60 >&2
  echo "0 passed, 1 failed"
  exit 1
fi

# The OciPublish task's out-of-process host (NativeAOT), published once: OciKitContainerizeTests runs it, and the MSBuild
# tests' package takes it (-p:OciKitHostDirectory) instead of compiling it again in its pack.
if ! dotnet publish src/OciKit.MSBuild.Host -c Release -r "$rid" -o "$out/ocikit-msbuild-host" -nologo -clp:ErrorsOnly >"$out/publish-host.log" 2>&1; then
  grep -E "error|Error" "$out/publish-host.log" | sort -u | head -n 60 >&2
  echo "0 passed, 1 failed"
  exit 1
fi

# --- 3. Test ------------------------------------------------------------------------------------------------------------
status=0
passed=0 failed=0 skipped=0
for project in tests/*/*.csproj; do
  name=$(basename "$project" .csproj)
  log="$out/$name.log"
  trx="$out/$name.trx"
  dotnet test "$project" -c Release --no-build --nologo \
    --logger "trx;LogFileName=$name.trx" --results-directory "$out" >"$log" 2>&1
  rc=$?
  # Failed tests with their messages, for whoever reads the CI log.
  sed -e 's/\x1b\[[0-9;]*m//g' "$log" | awk '/^ *Failed /{p=1} /^ *(Passed|Skipped) /{p=0} p' | head -n 400
  counters=$(grep -o '<Counters [^>]*>' "$trx" 2>/dev/null | head -n 1)
  if [ -z "$counters" ]; then
    echo "test.sh: $name produced no test results (crash or build problem); last lines:" >&2
    tail -n 30 "$log" >&2
    failed=$((failed + 1)); status=1
    continue
  fi
  count() { sed -E "s/.* $1=\"([0-9]+)\".*/\1/" <<<"$counters"; }
  p=$(count passed); f=$(( $(count failed) + $(count error) + $(count timeout) + $(count aborted) )); s=$(count notExecuted)
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "test.sh: $name: dotnet test exited $rc with no failed test recorded (host crash?)" >&2
    f=1
  fi
  echo "$name: $p passed, $f failed, $s skipped"
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
  [ "$rc" -ne 0 ] && status=1
done

[ "$failed" -gt 0 ] && status=1
if [ "$skipped" -gt 0 ]; then
  echo "$passed passed, $failed failed, $skipped skipped"
else
  echo "$passed passed, $failed failed"
fi
exit "$status"
