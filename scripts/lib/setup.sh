# shellcheck shell=bash
# Shared by scripts/run and scripts/test: checks what civkey needs, installs what is missing.
#
# Source it, then call the `need_*` functions. Settings (environment):
#   CIVKEY_SKIP_SYSTEM_PACKAGES=1  do not check or install Debian/Ubuntu packages
#                                  (other distributions, or a machine you set up yourself)

# Debian/Ubuntu packages: the Tauri/WebKitGTK build, the window test (Xvfb, ImageMagick, xwininfo),
# WebDriver, the camera bindings (libclang), the OS keystore tests, and Chromium with its WebDriver
# for the portal's browser tests, and a real SMTP server (aiosmtpd) for the e-mail delivery tests.
CIVKEY_SYSTEM_PACKAGES=(
  libwebkit2gtk-4.1-dev libsoup-3.0-dev libjavascriptcoregtk-4.1-dev build-essential curl wget
  file libssl-dev libayatana-appindicator3-dev librsvg2-dev libxdo-dev pkg-config libgtk-3-dev
  xvfb xauth imagemagick webkit2gtk-driver x11-utils libclang-dev
  gnome-keyring dbus dbus-x11 libdbus-1-dev libsecret-tools keyutils python3-aiosmtpd
)
# Ubuntu ships Chromium only as a snap (its chromium-browser package is a stub that installs the
# snap), so the browser is a Debian package on Debian and a snap on Ubuntu.
if grep -qsx 'ID=ubuntu' /etc/os-release; then
  CIVKEY_BROWSER_HINT="install Chromium with: snap install chromium (it includes chromedriver)"
else
  CIVKEY_SYSTEM_PACKAGES+=(chromium chromium-driver)
  CIVKEY_BROWSER_HINT="install the Debian packages chromium and chromium-driver"
fi
CIVKEY_MIN_RUST="1.90"

say() { printf '==> %s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# version_at_least HAVE WANT: true when dotted version HAVE >= WANT.
version_at_least() {
  [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n 1)" = "$2" ]
}

need_system_packages() {
  say "checking system packages"
  if [ "${CIVKEY_SKIP_SYSTEM_PACKAGES:-0}" = "1" ]; then
    say "skipped (CIVKEY_SKIP_SYSTEM_PACKAGES=1)"
    return 0
  fi
  if ! command -v dpkg-query >/dev/null 2>&1; then
    warn "not a Debian/Ubuntu system: install the equivalents of these packages yourself," \
      "then set CIVKEY_SKIP_SYSTEM_PACKAGES=1:"
    warn "  ${CIVKEY_SYSTEM_PACKAGES[*]}"
    return 0
  fi
  local missing=() pkg
  for pkg in "${CIVKEY_SYSTEM_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${db:Status-Status}\n' "$pkg" 2>/dev/null | grep -qx installed; then
      missing+=("$pkg")
    fi
  done
  if [ ${#missing[@]} -eq 0 ]; then
    return 0
  fi
  apt_install "${missing[@]}"
}

# as_root COMMAND…: runs COMMAND as root (through sudo when not root); fails when neither works.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    return 1
  fi
}

# apt_install PACKAGE…: installs Debian/Ubuntu packages, or stops saying how to.
apt_install() {
  say "installing ${#} missing package(s): $*"
  if ! as_root apt-get update -q \
    || ! as_root env DEBIAN_FRONTEND=noninteractive UCF_FORCE_CONFFOLD=1 \
      apt-get install -y -q --no-install-recommends "$@"; then
    printf 'error: could not install: %s\n' "$*" >&2
    printf 'install them as root with:\n  apt-get update && apt-get install -y --no-install-recommends %s\n' \
      "$*" >&2
    exit 1
  fi
}

# need_disk GB WHAT: a clean build for WHAT needs about GB gigabytes free where cargo builds
# (its own size and the crates' sources it downloads on a new machine).
# Stops with a clear message when a clean build would not fit, and turns off cargo's incremental
# caches (about a fifth of a build's size, worth it only when one checkout is rebuilt again and
# again) on CI and wherever space is short.
need_disk() {
  local want_gb="$1" what="$2" dir="${CARGO_TARGET_DIR:-target}"
  say "checking free disk space (a clean build for ${what} takes about ${want_gb} GB)"
  # The folder itself, or the nearest one above it that exists (a new CARGO_TARGET_DIR).
  local at="$dir"
  while [ ! -d "$at" ]; do at="$(dirname "$at")"; done
  local free_gb
  free_gb="$(df -Pk "$at" | awk 'NR == 2 { printf "%d", $4 / 1048576 }')"
  if [ -n "${CI:-}" ] || [ "$free_gb" -lt $((want_gb * 2)) ]; then
    export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
  fi
  say "${free_gb} GB free for ${dir}"
  if [ "$free_gb" -ge "$want_gb" ]; then
    return 0
  fi
  if [ -d "${dir}/debug/deps" ]; then
    warn "only ${free_gb} GB free for ${dir}; what is already built there may be enough"
  else
    die "only ${free_gb} GB free for ${dir}: ${what} needs about ${want_gb} GB (free some space, or set CARGO_TARGET_DIR to a bigger disk)"
  fi
}

need_rust() {
  say "checking Rust (cargo >= ${CIVKEY_MIN_RUST})"
  if ! command -v cargo >/dev/null 2>&1; then
    die "cargo is not installed: install Rust from https://rustup.rs, then run this again"
  fi
  local version
  version="$(cargo --version | awk '{print $2}')"
  if ! version_at_least "${version%%-*}" "$CIVKEY_MIN_RUST"; then
    die "cargo ${version} is too old (need ${CIVKEY_MIN_RUST} or newer): run \`rustup update stable\`"
  fi
}

# rustfmt and clippy, which scripts/test runs; rustup adds them when they are missing.
need_rust_tools() {
  say "checking rustfmt and clippy"
  local missing=()
  cargo fmt --version >/dev/null 2>&1 || missing+=(rustfmt)
  cargo clippy --version >/dev/null 2>&1 || missing+=(clippy)
  [ ${#missing[@]} -eq 0 ] && return 0
  if command -v rustup >/dev/null 2>&1; then
    rustup component add "${missing[@]}"
  else
    die "missing Rust components: ${missing[*]} (install them with your Rust distribution)"
  fi
}

# Sets CIVKEY_NEXTEST=1 when `cargo nextest` can be used, 0 to fall back to `cargo test`.
# shellcheck disable=SC2034 # read by the scripts that source this file
need_nextest() {
  say "checking cargo-nextest"
  CIVKEY_NEXTEST=1
  if cargo nextest --version >/dev/null 2>&1; then
    return 0
  fi
  say "installing cargo-nextest (cargo install cargo-nextest --locked; a few minutes, once)"
  if cargo install cargo-nextest --locked; then
    return 0
  fi
  warn "cargo-nextest could not be installed: the suite runs with \`cargo test\` instead"
  CIVKEY_NEXTEST=0
}

# The portal's browser tests drive Chromium through chromedriver.
need_browser() {
  say "checking Chromium and chromedriver (portal browser tests)"
  local chromium chromedriver
  chromium="$(command -v chromium || command -v chromium-browser || true)"
  chromedriver="$(command -v chromedriver || command -v chromium.chromedriver || true)"
  if [ -z "$chromium" ] || [ -z "$chromedriver" ]; then
    die "Chromium or chromedriver is missing: ${CIVKEY_BROWSER_HINT}"
  fi
  export CIVKEY_CHROMIUM="$chromium" CIVKEY_CHROMEDRIVER="$chromedriver"
}

# The app's front-end checks (ui/: Vitest and the TypeScript check over the JavaScript) need
# Node.js 18 or newer with npm; Debian 12's own packages are enough.
CIVKEY_MIN_NODE="18"
need_node() {
  say "checking Node.js >= ${CIVKEY_MIN_NODE} and npm (the app's front-end tests)"
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    if [ "${CIVKEY_SKIP_SYSTEM_PACKAGES:-0}" != "1" ] && command -v apt-get >/dev/null 2>&1 \
      && [ "$(id -u)" -eq 0 ]; then
      say "installing Debian's nodejs and npm"
      apt-get update -q && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends nodejs npm \
        || die "could not install nodejs and npm: install Node.js ${CIVKEY_MIN_NODE}+ with npm"
    else
      die "Node.js and npm are missing: install Node.js ${CIVKEY_MIN_NODE} or newer with npm"
    fi
  fi
  local version
  version="$(node --version | tr -d v)"
  if ! version_at_least "$version" "$CIVKEY_MIN_NODE"; then
    die "Node.js ${version} is too old (need ${CIVKEY_MIN_NODE} or newer)"
  fi
}

# ui/node_modules from ui/package-lock.json, exactly (npm ci), when missing or out of date.
need_ui_packages() {
  say "checking the front end's npm packages (ui/package-lock.json)"
  if [ ! -f ui/package-lock.json ]; then
    return 0
  fi
  local stamp=ui/node_modules/.civkey-lock.sha256
  local want
  want="$(sha256sum ui/package-lock.json | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  say "npm ci in ui/ (the registry's packages, as locked)"
  (cd ui && npm ci --no-audit --no-fund) || die "npm ci failed in ui/"
  printf '%s\n' "$want" >"$stamp"
}

# The app's WebDriver tests: tauri-driver (from crates.io) in front of WebKitWebDriver (Debian's
# webkit2gtk-driver, in the system packages above).
CIVKEY_TAURI_DRIVER_VERSION="2.1.0"
need_tauri_driver() {
  say "checking tauri-driver ${CIVKEY_TAURI_DRIVER_VERSION} and WebKitWebDriver (the app's WebDriver tests)"
  if ! command -v WebKitWebDriver >/dev/null 2>&1; then
    die "WebKitWebDriver is missing: install the Debian package webkit2gtk-driver"
  fi
  if tauri-driver --help >/dev/null 2>&1 \
    && [ "$(cargo install --list | grep -c "^tauri-driver v${CIVKEY_TAURI_DRIVER_VERSION}:")" -eq 1 ]; then
    return 0
  fi
  say "installing tauri-driver (cargo install tauri-driver --locked; about a minute, once)"
  cargo install tauri-driver --version "=${CIVKEY_TAURI_DRIVER_VERSION}" --locked \
    || die "could not install tauri-driver"
}

# The fuzz targets (fuzz/) run on every test run: cargo-fuzz builds them with libFuzzer and the
# address sanitizer (on the stable toolchain through RUSTC_BOOTSTRAP=1, see fuzz/README.md).
CIVKEY_CARGO_FUZZ_VERSION="0.13.2"
need_cargo_fuzz() {
  say "checking cargo-fuzz ${CIVKEY_CARGO_FUZZ_VERSION} (the fuzz targets)"
  if cargo fuzz --version >/dev/null 2>&1; then
    return 0
  fi
  say "installing cargo-fuzz (cargo install cargo-fuzz --locked; about a minute, once)"
  cargo install cargo-fuzz --version "=${CIVKEY_CARGO_FUZZ_VERSION}" --locked \
    || die "could not install cargo-fuzz"
}

# The suite's private PostgreSQL (scripts/lib/postgres-server, started by scripts/lib/with-postgres
# for each run) needs PostgreSQL's server programs (initdb, pg_ctl, postgres; pg_dump and psql for
# the stolen-backup test): Debian's package postgresql. Only the programs: on a machine without
# postgresql-common yet, its createcluster.conf is written first with create_main_cluster = false
# (kept by the install, UCF_FORCE_CONFFOLD), so the package creates and starts no cluster of its own.
need_postgres() {
  say "checking PostgreSQL's server programs (the tests' private PostgreSQL server)"
  if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    return 0
  fi
  if [ "${CIVKEY_SKIP_SYSTEM_PACKAGES:-0}" = "1" ] || ! command -v apt-get >/dev/null 2>&1; then
    die "PostgreSQL's server programs (initdb, pg_ctl) are missing: install PostgreSQL 13 or newer (Debian: the package postgresql)"
  fi
  local conf=/etc/postgresql-common/createcluster.conf
  if [ ! -e "$conf" ]; then
    as_root mkdir -p "$(dirname "$conf")" \
      && printf 'create_main_cluster = false\n' | as_root tee "$conf" >/dev/null \
      || die "cannot write ${conf} (run as root, or install the Debian package postgresql yourself)"
  fi
  apt_install postgresql
}
