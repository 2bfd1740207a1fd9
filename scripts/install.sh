#!/usr/bin/env bash
# Installs flowgen like any other tool: a release build of `flowgen` in PREFIX/bin, its Templates/
# and Features/ in PREFIX/share/flowgen (where the binary looks first, so no FLOWGEN_HOME is needed),
# the systemd unit, an example configuration (never over an existing one), bash/zsh/fish
# completions and a man page. Every path it creates is listed in PREFIX/share/flowgen/install-manifest,
# which `--uninstall` (or scripts/uninstall.sh) follows to remove exactly those paths again.
#
#   sudo scripts/install.sh [--prefix DIR] [--sysconfdir DIR] [--configuration release|debug]
#   sudo scripts/install.sh --uninstall [--prefix DIR]
#
# --prefix        where to install (default /usr/local)
# --sysconfdir    where default/flowgen (the unit's --config file) goes: /etc for the prefixes
#                 /usr and /usr/local, PREFIX/etc for any other prefix
# --configuration the SwiftPM build to install (default release; the tests install their debug build)
# --ignore-lock   pass SwiftPM's --ignore-lock: for a caller that holds the build folder's lock
#                 itself and has built everything already (the install test, inside `swift test`)
set -euo pipefail

die() { echo "install.sh: $*" >&2; exit 1; }

original_args=("$@")
prefix=/usr/local
sysconfdir=
configuration=release
mode=install
swiftpm=()
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) [ $# -ge 2 ] || die "--prefix needs a folder"; prefix="$2"; shift 2 ;;
    --prefix=*) prefix="${1#*=}"; shift ;;
    --sysconfdir) [ $# -ge 2 ] || die "--sysconfdir needs a folder"; sysconfdir="$2"; shift 2 ;;
    --sysconfdir=*) sysconfdir="${1#*=}"; shift ;;
    --configuration|-c) [ $# -ge 2 ] || die "--configuration needs release or debug"; configuration="$2"; shift 2 ;;
    --configuration=*) configuration="${1#*=}"; shift ;;
    --uninstall) mode=uninstall; shift ;;
    --ignore-lock) swiftpm=(--ignore-lock); shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$1' (see $0 --help)" ;;
  esac
done
case "$configuration" in release|debug) ;; *) die "--configuration must be release or debug, not '$configuration'" ;; esac
case "$prefix" in /*) ;; *) die "--prefix must be an absolute path, not '$prefix'" ;; esac
prefix="${prefix%/}"; [ -n "$prefix" ] || die "--prefix / is not supported: use /usr"
case "$prefix$sysconfdir" in *$'\n'*) die "--prefix and --sysconfdir may not contain a line break" ;; esac
system_prefix=no
case "$prefix" in /usr|/usr/local) system_prefix=yes ;; esac
if [ -z "$sysconfdir" ]; then
  if [ "$system_prefix" = yes ]; then sysconfdir=/etc; else sysconfdir="$prefix/etc"; fi
fi
case "$sysconfdir" in /*) ;; *) die "--sysconfdir must be an absolute path, not '$sysconfdir'" ;; esac
sysconfdir="${sysconfdir%/}"

share="$prefix/share/flowgen"
manifest="$share/install-manifest"
uid="$(id -u)"

# Root installs root-owned files; anyone else may only install into a folder that is already theirs.
if [ "$uid" -ne 0 ]; then
  if [ "$system_prefix" = yes ] || { [ -e "$prefix" ] && [ "$(stat -c %u "$prefix")" != "$uid" ]; } \
     || { [ ! -e "$prefix" ] && [ ! -w "$(dirname "$prefix")" ]; }; then
    die "${mode}ing in $prefix needs root (it is not a folder of yours): sudo $0 ${original_args[*]}"
  fi
  owner=()
else
  owner=(-o 0 -g 0)
fi

# flowgen refuses Templates/ and Features/ that anyone but root or their user could change, through
# any folder on the way to them (see docs/security.md): refuse such a prefix before installing into it.
check_trusted_path() {
  local walked=/ part st_uid st_mode parts
  IFS=/ read -r -a parts <<< "$1"
  for part in "" "${parts[@]}"; do
    [ -n "$part" ] && walked="${walked%/}/$part"
    [ -n "$part" ] || [ "$walked" = / ] || continue
    [ -e "$walked" ] || return 0
    read -r st_uid st_mode < <(stat -L -c '%u %a' "$walked")
    if [ "$st_uid" != 0 ] && [ "$st_uid" != "$uid" ]; then
      die "$walked is owned by uid $st_uid: flowgen would refuse files installed under it; choose a prefix that only root (or you) can change"
    fi
    # group or others may write, and no sticky bit (01000) to keep them from replacing our entries
    if [ $((8#$st_mode & 8#022)) -ne 0 ] && [ $((8#$st_mode & 8#1000)) -eq 0 ]; then
      die "$walked is writable by its group or others (mode $st_mode): flowgen would refuse files installed under it; fix its mode or choose another prefix"
    fi
  done
}

# Creates DIR and each missing folder above it (mode 0755), recording the ones it made.
created_dirs=()
make_dir() {
  local dir="$1" missing=()
  while [ ! -d "$dir" ]; do
    [ -e "$dir" ] && die "$dir exists and is not a folder"
    missing=("$dir" "${missing[@]}")
    dir="$(dirname "$dir")"
  done
  for dir in "${missing[@]}"; do
    install -d -m 0755 "${owner[@]}" "$dir"
    created_dirs+=("$dir")
  done
}

installed_files=()
# put_file SRC DEST MODE: copies SRC (a file) to DEST, creating folders, and records DEST.
put_file() {
  make_dir "$(dirname "$2")"
  install -m "$3" "${owner[@]}" "$1" "$2"
  installed_files+=("$2")
}

# The manifest is a list of paths a root shell removes, so it must be as trusted as the files.
read_manifest() {
  [ -f "$manifest" ] || return 1
  local st_uid st_mode
  read -r st_uid st_mode < <(stat -c '%u %a' "$manifest")
  if { [ "$st_uid" != 0 ] && [ "$st_uid" != "$uid" ]; } || [ $((8#$st_mode & 8#022)) -ne 0 ]; then
    die "$manifest is owned by uid $st_uid with mode $st_mode: not removing the paths another user could have listed in it; remove the installation by hand"
  fi
}

# Removes what the manifest lists: files, the configuration only if it is still the installed
# example (an edited one is kept and reported), then the folders install made, deepest first, if empty.
uninstall() {
  if ! read_manifest; then
    die "no flowgen installation in $prefix ($manifest is missing); pass the --prefix it was installed with"
  fi
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null \
     && systemctl is-active --quiet flowgen.service 2>/dev/null; then
    die "flowgen.service is running: stop it first (systemctl disable --now flowgen), then uninstall"
  fi
  local kind path sum dirs=()
  while read -r kind path; do
    # a configuration line ends with the checksum of the file as installed; paths may hold spaces
    if [ "$kind" = c ]; then sum="${path##* }"; path="${path% *}"; fi
    case "$kind" in
      f) rm -f -- "$path"; echo "removed $path" ;;
      c) if [ -f "$path" ] && [ "$(sha256sum < "$path" | cut -d' ' -f1)" = "$sum" ]; then
           rm -f -- "$path"; echo "removed $path (unchanged example configuration)"
         elif [ -e "$path" ]; then
           echo "kept    $path (changed since it was installed: remove it yourself if you no longer need it)"
         fi ;;
      d) dirs=("$path" "${dirs[@]}") ;;
      m) ;;
      *) die "$manifest: unknown line '$kind $path'" ;;
    esac
  done < "$manifest"
  rm -f -- "$manifest"
  echo "removed $manifest"
  for path in "${dirs[@]}"; do
    if rmdir -- "$path" 2>/dev/null; then echo "removed $path/"
    elif [ -d "$path" ]; then echo "kept    $path/ (holds files flowgen did not install)"; fi
  done
  reload_systemd
}

reload_systemd() {
  if [ "$uid" -eq 0 ] && [ "$system_prefix" = yes ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
    systemctl daemon-reload || echo "install.sh: systemctl daemon-reload failed; run it yourself" >&2
  fi
}

if [ "$mode" = uninstall ]; then
  uninstall
  exit 0
fi

cd "$(dirname "$0")/.."
check_trusted_path "$prefix"
check_trusted_path "$sysconfdir"
command -v swift >/dev/null || die "swift not found on PATH (sudo resets PATH: run sudo env \"PATH=\$PATH\" $0)"

# Build as the owner of the clone, so `sudo scripts/install.sh` leaves no root-owned files in .build.
build_as=()
clone_uid="$(stat -c %u .)"
if [ "$uid" -eq 0 ] && [ "$clone_uid" != 0 ]; then
  clone_home="$(getent passwd "$clone_uid" | cut -d: -f6)"
  build_as=(setpriv "--reuid=$clone_uid" "--regid=$(stat -c %g .)" --init-groups env "HOME=${clone_home:-/nonexistent}")
fi
echo "install.sh: building flowgen ($configuration)" >&2
"${build_as[@]}" swift build "${swiftpm[@]}" -c "$configuration" --product flowgen
bin="$("${build_as[@]}" swift build "${swiftpm[@]}" -c "$configuration" --show-bin-path)/flowgen"
[ -x "$bin" ] || die "the build left no executable at $bin"

# The man page from swift-argument-parser's generate-manual plugin (it reads `flowgen`'s own
# option definitions), dated by the last commit so the same source gives the same page.
echo "install.sh: generating the man page (swift-argument-parser's generate-manual plugin)" >&2
manual_args=(--configuration "$configuration")
if date="$("${build_as[@]}" git log -1 --format=%cs 2>/dev/null)" && [ -n "$date" ]; then manual_args+=(--date "$date"); fi
manual_log="$(mktemp)"
if ! "${build_as[@]}" swift package "${swiftpm[@]}" generate-manual "${manual_args[@]}" >"$manual_log" 2>&1; then
  cat "$manual_log" >&2; rm -f "$manual_log"
  die "generating the man page failed (above)"
fi
rm -f "$manual_log"
manual="$(dirname "$(dirname "$(dirname "$bin")")")/plugins/GenerateManual/outputs/flowgen/flowgen.1"
[ -f "$manual" ] || die "the generate-manual plugin wrote no $manual"

# A new install replaces an earlier one in the same prefix completely (its configuration stays).
if [ -f "$manifest" ]; then
  echo "install.sh: replacing the flowgen installed in $prefix" >&2
  uninstall >/dev/null
fi

staging="$(mktemp -d)"
trap 'rm -rf "$staging"' EXIT
# blank lines in help texts become paragraph breaks, which mdoc wants instead of empty input lines
sed 's/^$/.Pp/' "$manual" > "$staging/flowgen.1"
for shell in bash zsh fish; do
  "$bin" --generate-completion-script "$shell" > "$staging/completion.$shell" \
    || die "flowgen --generate-completion-script $shell failed"
done
# the unit runs this prefix's binary with this sysconfdir's configuration
literal() { printf '%s' "$1" | sed 's/[&|\\]/\\&/g'; }
sed -e "s|/usr/local/bin/flowgen|$(literal "$prefix/bin/flowgen")|g" \
    -e "s|/usr/local/share/flowgen|$(literal "$share")|g" \
    -e "s|/etc/default/flowgen|$(literal "$sysconfdir/default/flowgen")|g" contrib/flowgen.service > "$staging/flowgen.service"

put_file "$bin" "$prefix/bin/flowgen" 0755
for tree in Templates Features; do
  while IFS= read -r -d '' file; do
    put_file "$file" "$share/$file" 0644
  done < <(find "$tree" -type f -print0 | sort -z)
done
put_file contrib/flowgen.conf "$share/flowgen.conf.example" 0644
put_file "$staging/flowgen.service" "$prefix/lib/systemd/system/flowgen.service" 0644
put_file "$staging/completion.bash" "$prefix/share/bash-completion/completions/flowgen" 0644
put_file "$staging/completion.zsh" "$prefix/share/zsh/site-functions/_flowgen" 0644
put_file "$staging/completion.fish" "$prefix/share/fish/vendor_completions.d/flowgen.fish" 0644
put_file "$staging/flowgen.1" "$prefix/share/man/man1/flowgen.1" 0644

config="$sysconfdir/default/flowgen"
config_line=
if [ -e "$config" ]; then
  echo "install.sh: kept the existing $config (the example is $share/flowgen.conf.example)" >&2
else
  make_dir "$(dirname "$config")"
  # 0600: the configuration chooses feature paths, clang and outputs (flowgen refuses one others can change)
  install -m 0600 "${owner[@]}" contrib/flowgen.conf "$config"
  config_line="c $config $(sha256sum < "$config" | cut -d' ' -f1)"
fi

{
  echo "m flowgen install manifest: f file, c configuration (removed only if unchanged), d folder made by install"
  for dir in "${created_dirs[@]}"; do echo "d $dir"; done
  for file in "${installed_files[@]}"; do echo "f $file"; done
  [ -z "$config_line" ] || echo "$config_line"
} > "$staging/manifest"
install -m 0644 "${owner[@]}" "$staging/manifest" "$manifest"
reload_systemd

echo "installed flowgen $("$prefix/bin/flowgen" --version) into $prefix:"
echo "  $prefix/bin/flowgen"
echo "  $share/{Templates,Features}/ ($(find "$share/Templates" "$share/Features" -type f | wc -l) files), flowgen.conf.example"
echo "  $prefix/lib/systemd/system/flowgen.service"
echo "  $prefix/share/bash-completion/completions/flowgen, zsh/site-functions/_flowgen, fish/vendor_completions.d/flowgen.fish"
echo "  $prefix/share/man/man1/flowgen.1"
[ -z "$config_line" ] || echo "  $config (example settings, mode 0600: edit it)"
echo "  $manifest (what $0 --uninstall --prefix $prefix removes)"
case ":$PATH:" in *":$prefix/bin:"*) ;; *) echo "note: $prefix/bin is not on PATH" ;; esac
if [ "$system_prefix" = no ]; then
  echo "note: systemd does not look in $prefix/lib/systemd/system: systemctl link $prefix/lib/systemd/system/flowgen.service to use the unit"
fi
echo "next: flowgen build --features tcp,icmp ; edit $config ; systemctl enable --now flowgen ; man flowgen"
