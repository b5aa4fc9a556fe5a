#!/usr/bin/env bash
# Install, update or remove slurm-usage-history-exporter on a SLURM login node.
#
#   sudo ./install.sh                    # system install: service user, /opt, /etc config, systemd timer
#   sudo ./install.sh --no-systemd       # same, with an /etc/cron.d entry instead of the timer
#   ./install.sh --user                  # no root: under $HOME, prints the crontab line to add
#   sudo ./install.sh --uninstall        # remove program and units; keep config, state and spool
#   sudo ./install.sh --uninstall --purge   # remove those and the service user too
#
# Re-running it updates the program and units and never touches an existing config.json.
# Every file and directory it creates is recorded in CONF_DIR/install.manifest; --uninstall and
# --purge remove exactly those (directories only when empty or made for data) and say what they kept.
# DESTDIR=/tmp/root ./install.sh stages everything under /tmp/root (packaging, tests); the
# service user is then created in DESTDIR/etc/passwd when that file exists (useradd --root).
set -euo pipefail

NAME=slurm-usage-history-exporter
SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DESTDIR=${DESTDIR:-}
PREFIX_GIVEN=${PREFIX:+yes}
PREFIX=${PREFIX:-/opt/$NAME}
BIN_DIR=${BIN_DIR:-/usr/local/bin}
CONF_DIR=${CONF_DIR:-/etc/$NAME}
STATE_DIR=${STATE_DIR:-/var/lib/$NAME}
SPOOL_DIR=${SPOOL_DIR:-/var/spool/$NAME}
UNIT_DIR=${UNIT_DIR:-/etc/systemd/system}
CRON_FILE=${CRON_FILE:-/etc/cron.d/$NAME}
SERVICE_USER=${SERVICE_USER:-slurm-usage}
SLURM_CONF=${SLURM_CONF:-/etc/slurm/slurm.conf}
PYTHON=${PYTHON:-}
MODE=system        # system | user
ACTION=install     # install | uninstall
SYSTEMD=yes
PURGE=no

usage() {
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
    cat <<EOF

Options:
  --user              install for the current user under \$HOME (no root, cron)
  --no-systemd        system install without systemd units; adds $CRON_FILE
  --uninstall         remove the program, wrapper and units/cron entry
  --purge             with --uninstall: also remove config, state, spool and the service user
  --prefix DIR        the program's own directory (default $PREFIX); it must be new, empty
                      or hold only this program's files (never /opt or /usr/local themselves)
  --python PATH       Python >= 3.8 to run the exporter (default: the system's, /usr/bin/python3
                      first; never one under /home, /root or /run/user, which the unit's
                      ProtectHome=yes hides from the service)
  --service-user NAME service account (default $SERVICE_USER)
  -h, --help          this text
Environment: DESTDIR (staging root), PREFIX, BIN_DIR, CONF_DIR, STATE_DIR, SPOOL_DIR, UNIT_DIR,
SERVICE_USER, PYTHON, SLURM_CONF.
EOF
}

die() { echo "install.sh: error: $*" >&2; exit 1; }
note() { echo "install.sh: $*"; }

while [ $# -gt 0 ]; do
    case "$1" in
        --user) MODE=user ;;
        --no-systemd) SYSTEMD=no ;;
        --uninstall) ACTION=uninstall ;;
        --purge) PURGE=yes ;;
        --prefix) PREFIX=${2:?--prefix needs a directory}; PREFIX_GIVEN=yes; shift ;;
        --prefix=*) PREFIX=${1#*=}; PREFIX_GIVEN=yes ;;
        --python) PYTHON=${2:?--python needs a path}; shift ;;
        --python=*) PYTHON=${1#*=} ;;
        --service-user) SERVICE_USER=${2:?--service-user needs a name}; shift ;;
        --service-user=*) SERVICE_USER=${1#*=} ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown option $1" ;;
    esac
    shift
done

if [ "$MODE" = user ]; then
    [ "$(id -u)" != 0 ] || [ -n "$DESTDIR" ] || die "--user is for an ordinary account; as root use the system install"
    PREFIX=${USER_PREFIX:-$HOME/.local/share/$NAME}
    BIN_DIR=$HOME/.local/bin
    CONF_DIR=$HOME/.config/$NAME
    STATE_DIR=$HOME/.local/state/$NAME
    SPOOL_DIR=$STATE_DIR/spool
    SYSTEMD=no
elif [ -z "$DESTDIR" ] && [ "$(id -u)" != 0 ]; then
    die "the system install needs root (sudo $0 $*), or use --user"
fi

d() { printf '%s%s' "$DESTDIR" "$1"; }   # a path inside the staging root

SYSTEM_PYTHONS=(/usr/bin/python3 /usr/local/bin/python3 /usr/bin/python3.13 /usr/bin/python3.12 /usr/bin/python3.11
                /usr/bin/python3.10 /usr/bin/python3.9 /usr/bin/python3.8 /usr/libexec/platform-python)

# True when the unit's ProtectHome=yes hides PATH (or what it links to) from the service.
hidden_from_service() {
    local p
    for p in "$1" "$(readlink -f "$1" 2>/dev/null || echo "$1")"; do
        case "$p/" in /home/*|/root/*|/run/user/*) return 0 ;; esac
    done
    return 1
}

# Runs PYTHON as the service would: under ProtectHome (systemd-run when systemd runs here, else a private
# mount namespace with /home, /root and /run/user hidden). 2 when no check is possible on this host.
runs_under_sandbox() {
    local check='import sys; sys.exit(sys.version_info < (3, 8))'
    if [ -z "$DESTDIR" ] && [ -d /run/systemd/system ] && command -v systemd-run >/dev/null 2>&1; then
        systemd-run --quiet --wait --pipe --collect -p ProtectHome=yes -p ProtectSystem=strict \
            -p "User=$SERVICE_USER" "$1" -c "$check" </dev/null >/dev/null 2>&1
    elif [ "$(id -u)" = 0 ] && command -v unshare >/dev/null 2>&1 \
            && unshare --mount --propagation private true 2>/dev/null; then
        unshare --mount --propagation private sh -c \
            'for d in /home /root /run/user; do [ -d "$d" ] && mount -t tmpfs -o ro,mode=0755 none "$d"; done; exec "$@"' \
            sh "$1" -c "$check" </dev/null >/dev/null 2>&1
    else
        return 2
    fi
}

# The interpreter the wrapper pins. System install: an absolute system path the service can run (the
# first python3 on root's PATH may be a pyenv shim in /root, hidden by ProtectHome=yes); --user: PATH.
find_python() {
    local candidates=() py path why=()
    if [ -n "$PYTHON" ]; then
        candidates=("$PYTHON")
    elif [ "$MODE" = user ]; then
        candidates=(python3 python3.13 python3.12 python3.11 python3.10 python3.9 python3.8)
    else
        candidates=("${SYSTEM_PYTHONS[@]}")
    fi
    for py in "${candidates[@]}"; do
        path=$(command -v "$py" 2>/dev/null) || { [ -n "$PYTHON" ] && why+=("$py: not found"); continue; }
        if ! "$path" -c 'import sys; sys.exit(sys.version_info < (3, 8))' 2>/dev/null; then
            why+=("$path: not Python >= 3.8")
            continue
        fi
        if [ "$MODE" = system ]; then
            if hidden_from_service "$path"; then
                why+=("$path: under /home, /root or /run/user, hidden from the service by ProtectHome=yes")
                continue
            fi
            local rc=0
            runs_under_sandbox "$path" || rc=$?
            if [ "$rc" = 1 ]; then
                why+=("$path: does not run under the unit's sandbox (ProtectHome=yes)")
                continue
            fi
            [ "$rc" = 0 ] && note "checked: $path runs under the unit's sandbox (ProtectHome=yes)" >&2
        fi
        echo "$path"
        return 0
    done
    printf '%s\n' ${why[@]+"${why[@]}"} >&2
    return 1
}

# uid/gid of a user: from DESTDIR/etc/passwd when staging, else from the system.
user_ids() {
    if [ -n "$DESTDIR" ]; then
        [ -f "$(d /etc/passwd)" ] || return 1
        awk -F: -v u="$1" '$1 == u { print $3 ":" $4; found = 1 } END { exit !found }' "$(d /etc/passwd)"
    else
        id "$1" >/dev/null 2>&1 || return 1
        echo "$(id -u "$1"):$(id -g "$1")"
    fi
}

create_service_user() {
    if user_ids "$SERVICE_USER" >/dev/null; then
        note "service user $SERVICE_USER exists"
        return 0
    fi
    local root_opt=()
    if [ -n "$DESTDIR" ]; then
        if [ ! -f "$(d /etc/passwd)" ]; then
            note "DESTDIR has no etc/passwd: not creating $SERVICE_USER (create it when deploying the staged tree)"
            return 0
        fi
        root_opt=(--root "$DESTDIR")
    fi
    local nologin=/usr/sbin/nologin
    [ -x "$nologin" ] || nologin=/sbin/nologin
    useradd "${root_opt[@]}" --system --user-group --home-dir "$STATE_DIR" --no-create-home \
        --shell "$nologin" --comment "slurm-usage-history exporter" "$SERVICE_USER" 2>&1 \
        | grep -v "missing or non-executable shell" || true
    user_ids "$SERVICE_USER" >/dev/null || die "could not create the service user $SERVICE_USER"
    note "created service user $SERVICE_USER"
    # slurm.conf readable only by its group (some sites): sacct needs it, so join that group.
    if [ -z "$DESTDIR" ] && [ -e "$SLURM_CONF" ] && [ "$(( $(stat -c '%a' "$SLURM_CONF") % 10 & 4 ))" = 0 ]; then
        local group
        group=$(stat -c '%G' "$SLURM_CONF")
        usermod -a -G "$group" "$SERVICE_USER"
        note "added $SERVICE_USER to group $group (to read $SLURM_CONF)"
    fi
}

group_exists() {
    if [ -n "$DESTDIR" ]; then
        [ -f "$(d /etc/group)" ] && grep -q "^$1:" "$(d /etc/group)"
    else
        getent group "$1" >/dev/null 2>&1
    fi
}

# own PATH USER (or skip when the user does not exist in a staging root)
own() {
    local ids
    if ids=$(user_ids "$2"); then
        chown "$ids" "$1"
    elif [ -n "$DESTDIR" ]; then
        :  # staged without users: the deploy step sets owners
    else
        die "user $2 missing"
    fi
}

# ---- the install manifest: what install.sh created, so uninstall removes exactly that -------------
# One entry a line, real paths (without DESTDIR): f FILE (program, wrapper, unit, cron entry),
# c FILE (a config it created; --purge), d DIR (made; removed when empty), D DIR (made for config,
# state or spool; --purge removes it with its contents), e DIR (existed already; always kept),
# u USER / g GROUP (service user and its group it created; --purge), p DIR (the prefix).
MANIFEST_NAME=install.manifest
OLD=()      # entries of an existing manifest
ENTRIES=()  # entries of this run

manifest_file() { d "$CONF_DIR/$MANIFEST_NAME"; }
record() { ENTRIES+=("$1 $2"); }
recorded() {  # recorded KINDS PATH: PATH has an entry of one of KINDS (e.g. "dD") in OLD or ENTRIES
    local entry
    for entry in ${OLD[@]+"${OLD[@]}"} ${ENTRIES[@]+"${ENTRIES[@]}"}; do
        case "$1" in *"${entry%% *}"*) [ "${entry#* }" = "$2" ] && return 0 ;; esac
    done
    return 1
}

load_manifest() {  # fills OLD; 1 when there is no manifest
    local file line kind path
    file=$(manifest_file)
    OLD=()
    [ -f "$file" ] || return 1
    while IFS= read -r line || [ -n "$line" ]; do
        case "$line" in ''|'#'*) continue ;; esac
        kind=${line%% *} path=${line#* }
        case "$kind" in
            f|c|d|D|e|p)
                case "$path" in /*) ;; *) die "$file: '$line': not an absolute path" ;; esac
                case "$path/" in */../*|*/./*|*//*) die "$file: '$line': not a plain path" ;; esac ;;
            u|g) ;;
            *) die "$file: unknown entry '$line'" ;;
        esac
        OLD+=("$kind $path")
    done <"$file"
}

write_manifest() {  # write_manifest ENTRY...: the manifest with these entries (each once, in order)
    local file tmp entry seen=$'\n'
    file=$(manifest_file)
    tmp=$(mktemp)
    printf '# %s: what install.sh created (read by --uninstall / --purge). Do not edit.\n' "$NAME" >"$tmp"
    for entry in "$@"; do
        case "$seen" in *$'\n'"$entry"$'\n'*) continue ;; esac
        seen+="$entry"$'\n'
        printf '%s\n' "$entry" >>"$tmp"
    done
    install -m "$([ "$MODE" = user ] && echo 0600 || echo 0644)" "$tmp" "$file"
    rm -f "$tmp"
}

# make_dir KIND MODE DIR: create DIR (MODE) and its missing parents (0755), recording each one made
# (DIR as KIND, parents as d). A DIR that existed is recorded e unless an earlier run made it.
# Sets MADE=yes when DIR is this program's (made now or by an earlier run), so modes/owners may be set.
make_dir() {
    local kind=$1 mode=$2 dir=$3 p missing=()
    case "$dir" in /*) ;; *) die "$dir: give absolute paths" ;; esac
    p=$dir
    while [ "$p" != / ] && [ ! -d "$(d "$p")" ]; do
        missing=("$p" ${missing[@]+"${missing[@]}"})
        p=$(dirname "$p")
    done
    for p in ${missing[@]+"${missing[@]}"}; do
        if [ "$p" = "$dir" ]; then
            install -d -m "$mode" "$(d "$p")"
            record "$kind" "$p"
        else
            install -d -m 0755 "$(d "$p")"
            record d "$p"
        fi
    done
    MADE=yes
    if [ ${#missing[@]} = 0 ]; then
        if recorded dD "$dir"; then
            chmod "$mode" "$(d "$dir")"
        else
            MADE=no
            recorded e "$dir" || record e "$dir"
        fi
    fi
}

put_file() {  # put_file MODE SRC DEST
    install -m "$1" "$2" "$(d "$3")"
    record f "$3"
}

# A directory given for this program alone (--prefix, CONF_DIR, STATE_DIR, SPOOL_DIR) must be new,
# made by an earlier run, empty, or (from an install.sh older than the manifest) named after the
# program; --prefix may also hold the program's own files. Anything else is another program's place.
check_own_dir() {  # check_own_dir WHAT DIR [ALLOWED_NAME...]
    local what=$1 dir=$2 f base extra=()
    shift 2
    [ -d "$(d "$dir")" ] || return 0
    recorded dD "$dir" && return 0
    [ "$what" != "--prefix" ] && [ "${dir##*/}" = "$NAME" ] && return 0
    for f in "$(d "$dir")"/* "$(d "$dir")"/.[!.]* "$(d "$dir")"/..?*; do
        [ -e "$f" ] || [ -L "$f" ] || continue
        base=${f##*/}
        case " $* " in *" $base "*) continue ;; esac
        extra+=("$base")
    done
    [ ${#extra[@]} = 0 ] && return 0
    die "$what $dir already holds files this program did not put there (${extra[*]:0:5}$([ ${#extra[@]} -gt 5 ] && echo ' ...')): it must be this program's own directory, such as $dir/$NAME; nothing was installed"
}

install_files() {
    local py
    py=$(find_python) || die "no usable Python >= 3.8 (tried ${PYTHON:-${SYSTEM_PYTHONS[*]}}; why: above); install a system python3 (e.g. apt-get install python3) or pass --python PATH"
    note "using $py ($("$py" -c 'import sys; print(sys.version.split()[0])'))"
    if ! command -v sacct >/dev/null 2>&1; then
        if [ -n "$DESTDIR" ]; then
            note "warning: sacct not on PATH here; the target host needs it (or set sacct_path)"
        else
            die "sacct not found on PATH: install Slurm's client commands first (or set PATH)"
        fi
    fi
    [ -z "$DESTDIR" ] || install -d "$DESTDIR"
    load_manifest || true
    check_own_dir --prefix "$PREFIX" "$NAME.py" config.json.example README.md QUICKSTART.md
    check_own_dir CONF_DIR "$CONF_DIR" config.json "$MANIFEST_NAME"
    check_own_dir STATE_DIR "$STATE_DIR"
    check_own_dir SPOOL_DIR "$SPOOL_DIR"
    local wrapper_path="$BIN_DIR/$NAME"
    if [ -e "$(d "$wrapper_path")" ] && ! grep -q "installed by $NAME/install.sh" "$(d "$wrapper_path")" 2>/dev/null; then
        die "$wrapper_path exists and is not this program's wrapper: remove or move it first; nothing was installed"
    fi

    if [ "$MODE" != user ]; then
        local existed=yes group_existed=yes
        user_ids "$SERVICE_USER" >/dev/null || existed=no
        group_exists "$SERVICE_USER" || group_existed=no
        create_service_user
        if [ "$existed" = no ] && user_ids "$SERVICE_USER" >/dev/null; then
            record u "$SERVICE_USER"
            [ "$group_existed" = no ] && group_exists "$SERVICE_USER" && record g "$SERVICE_USER"
        fi
    fi

    # The config dir first: the manifest lives there (root-owned in a system install).
    local mode=0750
    [ "$MODE" = user ] && mode=0700
    make_dir D "$mode" "$CONF_DIR"
    if [ "$MODE" != user ] && [ "$MADE" = yes ]; then
        local ids
        if ids=$(user_ids "$SERVICE_USER"); then
            chown "0:${ids#*:}" "$(d "$CONF_DIR")"   # root-owned, readable by the service group
        fi
    fi
    make_dir D "$mode" "$STATE_DIR"
    [ "$MODE" = user ] || [ "$MADE" = no ] || own "$(d "$STATE_DIR")" "$SERVICE_USER"
    make_dir D "$mode" "$SPOOL_DIR"
    [ "$MODE" = user ] || [ "$MADE" = no ] || own "$(d "$SPOOL_DIR")" "$SERVICE_USER"
    make_dir d 0755 "$PREFIX"
    record p "$PREFIX"
    make_dir d 0755 "$BIN_DIR"

    put_file 0755 "$SRC_DIR/$NAME.py" "$PREFIX/$NAME.py"
    local doc
    for doc in config.json.example README.md QUICKSTART.md; do
        [ -f "$SRC_DIR/$doc" ] && put_file 0644 "$SRC_DIR/$doc" "$PREFIX/$doc"
    done
    # A wrapper, not a symlink: it pins the Python found above (login nodes often have an old python3).
    local tmp
    tmp=$(mktemp)
    printf '#!/bin/sh\n# installed by %s/install.sh\nexec %s %s "$@"\n' "$NAME" "$py" "$PREFIX/$NAME.py" >"$tmp"
    put_file 0755 "$tmp" "$wrapper_path"
    rm -f "$tmp"

    local config="$CONF_DIR/config.json"
    if [ -e "$(d "$config")" ]; then
        note "keeping existing $config"
    else
        tmp=$(mktemp)
        sed -e "s#\"/var/spool/$NAME\"#\"$SPOOL_DIR\"#" -e "s#\"/var/lib/$NAME/state.json\"#\"$STATE_DIR/state.json\"#" \
            "$SRC_DIR/config.json.example" >"$tmp"
        install -m 0600 "$tmp" "$(d "$config")"
        rm -f "$tmp"
        record c "$config"
        [ "$MODE" = user ] || own "$(d "$config")" "$SERVICE_USER"
        note "created $config from the example: set api_url and api_key (or api_key_file)"
    fi

    if [ "$MODE" = user ]; then
        write_manifest ${OLD[@]+"${OLD[@]}"} "${ENTRIES[@]}"
        note "installed for $(id -un); record of what was installed: $CONF_DIR/$MANIFEST_NAME"
        note "add this line with 'crontab -e' (daily at 02:17):"
        echo "17 2 * * * $BIN_DIR/$NAME --config $config >>$STATE_DIR/cron.log 2>&1"
        return 0
    fi
    if [ "$SYSTEMD" = yes ]; then
        make_dir d 0755 "$UNIT_DIR"
        sed -e "s#/usr/local/bin/$NAME#$BIN_DIR/$NAME#" -e "s#/opt/$NAME/#$PREFIX/#" \
            -e "s#/etc/$NAME/#$CONF_DIR/#" -e "s#/var/lib/$NAME#$STATE_DIR#" -e "s#/var/spool/$NAME#$SPOOL_DIR#" \
            -e "s#^User=.*#User=$SERVICE_USER#" -e "s#^Group=.*#Group=$SERVICE_USER#" \
            "$SRC_DIR/$NAME.service" >"$(d "$UNIT_DIR/$NAME.service")"
        chmod 0644 "$(d "$UNIT_DIR/$NAME.service")"
        record f "$UNIT_DIR/$NAME.service"
        put_file 0644 "$SRC_DIR/$NAME.timer" "$UNIT_DIR/$NAME.timer"
        write_manifest ${OLD[@]+"${OLD[@]}"} "${ENTRIES[@]}"
        if [ -z "$DESTDIR" ] && [ -d /run/systemd/system ]; then
            systemctl daemon-reload
            systemctl enable --now "$NAME.timer"
            note "timer enabled: systemctl list-timers $NAME.timer"
        else
            note "systemd is not running here: later run 'systemctl daemon-reload && systemctl enable --now $NAME.timer'"
        fi
    else
        make_dir d 0755 "$(dirname "$CRON_FILE")"
        printf '# %s: daily run (installed by install.sh --no-systemd)\nSHELL=/bin/sh\n17 2 * * * %s %s --config %s\n' \
            "$NAME" "$SERVICE_USER" "$BIN_DIR/$NAME" "$config" >"$(d "$CRON_FILE")"
        chmod 0644 "$(d "$CRON_FILE")"
        record f "$CRON_FILE"
        write_manifest ${OLD[@]+"${OLD[@]}"} "${ENTRIES[@]}"
        note "cron entry $CRON_FILE runs it daily at 02:17 as $SERVICE_USER"
    fi
    note "record of what was installed: $CONF_DIR/$MANIFEST_NAME"
    note "test it: sudo -u $SERVICE_USER $BIN_DIR/$NAME --dry-run"
}

# Directories deepest first (so a parent is tried after its children).
deepest_first() { awk '{ n = gsub("/", "/"); print n "\t" $0 }' | sort -t "$(printf '\t')" -k1,1nr | cut -f2-; }

uninstall_files() {
    load_manifest || die "no $CONF_DIR/$MANIFEST_NAME: nothing was recorded as installed with CONF_DIR=$CONF_DIR (give the CONF_DIR you installed with; an install.sh older than the manifest: run this install.sh once to record it); nothing was removed"
    local entry kind path prefixes=()
    for entry in "${OLD[@]}"; do
        [ "${entry%% *}" = p ] && prefixes+=("${entry#* }")
    done
    if [ "$PREFIX_GIVEN" = yes ] && ! recorded p "$PREFIX"; then
        die "--prefix/PREFIX $PREFIX is not where this program was installed (recorded: ${prefixes[*]:-none}); nothing was removed"
    fi
    if [ "$MODE" = system ] && [ -z "$DESTDIR" ] && [ -d /run/systemd/system ] && recorded f "$UNIT_DIR/$NAME.timer"; then
        systemctl disable --now "$NAME.timer" 2>/dev/null || true
    fi
    local removed=0 kept=() left=() dirs=() groups=()
    for entry in "${OLD[@]}"; do
        kind=${entry%% *} path=${entry#* }
        case "$kind" in
            f) rm -f "$(d "$path")"; removed=$((removed + 1)) ;;
            c) if [ "$PURGE" = yes ]; then rm -f "$(d "$path")"; removed=$((removed + 1))
               else kept+=("$path (config)"); left+=("$entry"); fi ;;
            D) if [ "$PURGE" = yes ]; then rm -rf "$(d "$path")"; removed=$((removed + 1))
               else kept+=("$path (config, state or spool: --purge removes it)"); left+=("$entry"); fi ;;
            d) dirs+=("$path") ;;
            e) kept+=("$path (existed before the install)"); left+=("$entry") ;;
            u) if [ "$PURGE" = yes ]; then
                   if user_ids "$path" >/dev/null; then
                       if [ -n "$DESTDIR" ]; then userdel --root "$DESTDIR" "$path"; else userdel "$path"; fi
                       note "removed the service user $path"
                   fi
               else kept+=("service user $path"); left+=("$entry"); fi ;;
            g) if [ "$PURGE" = yes ]; then groups+=("$path"); else left+=("$entry"); fi ;;
            p) left+=("$entry") ;;
        esac
    done
    while IFS= read -r path; do
        [ -n "$path" ] || continue
        if [ -d "$(d "$path")" ] && ! rmdir "$(d "$path")" 2>/dev/null; then
            kept+=("$path (not empty)")
            left+=("d $path")
        fi
    done < <(printf '%s\n' ${dirs[@]+"${dirs[@]}"} | deepest_first)
    for path in ${groups[@]+"${groups[@]}"}; do  # the service user's own group, when userdel left it
        if group_exists "$path"; then
            if [ -n "$DESTDIR" ]; then groupdel --root "$DESTDIR" "$path"; else groupdel "$path"; fi
        fi
    done
    if [ "$MODE" = system ] && [ -z "$DESTDIR" ] && [ -d /run/systemd/system ]; then
        systemctl daemon-reload || true
    fi
    if [ "$PURGE" = yes ] || [ ! -d "$(d "$CONF_DIR")" ]; then
        rm -f "$(manifest_file)"
    else
        write_manifest ${left[@]+"${left[@]}"}  # what a later --purge still has to remove
    fi
    note "removed $removed file(s) and folder(s) this program installed$([ "$PURGE" = yes ] && echo ', with config, state and spool')"
    for entry in ${kept[@]+"${kept[@]}"}; do
        note "kept $entry"
    done
    [ "$PURGE" = yes ] || note "undelivered drops stay in the spool; --uninstall --purge removes config, state and spool"
    [ "$MODE" = user ] && note "remove the crontab line with 'crontab -e'"
    return 0
}

if [ "$ACTION" = install ]; then install_files; else uninstall_files; fi
