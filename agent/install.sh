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
# DESTDIR=/tmp/root ./install.sh stages everything under /tmp/root (packaging, tests); the
# service user is then created in DESTDIR/etc/passwd when that file exists (useradd --root).
set -euo pipefail

NAME=slurm-usage-history-exporter
SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DESTDIR=${DESTDIR:-}
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
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
    cat <<EOF

Options:
  --user              install for the current user under \$HOME (no root, cron)
  --no-systemd        system install without systemd units; adds $CRON_FILE
  --uninstall         remove the program, wrapper and units/cron entry
  --purge             with --uninstall: also remove config, state, spool and the service user
  --prefix DIR        program directory (default $PREFIX)
  --python PATH       Python >= 3.8 to run the exporter (default: first suitable python3)
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
        --prefix) PREFIX=${2:?--prefix needs a directory}; shift ;;
        --prefix=*) PREFIX=${1#*=} ;;
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

find_python() {
    local candidates=("$PYTHON")
    [ -n "$PYTHON" ] || candidates=(python3 python3.13 python3.12 python3.11 python3.10 python3.9 python3.8)
    local py path
    for py in "${candidates[@]}"; do
        path=$(command -v "$py" 2>/dev/null) || continue
        if "$path" -c 'import sys; sys.exit(sys.version_info < (3, 8))' 2>/dev/null; then
            echo "$path"
            return 0
        fi
    done
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

install_files() {
    local py
    py=$(find_python) || die "no Python >= 3.8 found (tried ${PYTHON:-python3, python3.13 .. python3.8}); install one or pass --python PATH"
    note "using $py ($("$py" -c 'import sys; print(sys.version.split()[0])'))"
    if ! command -v sacct >/dev/null 2>&1; then
        if [ -n "$DESTDIR" ]; then
            note "warning: sacct not on PATH here; the target host needs it (or set sacct_path)"
        else
            die "sacct not found on PATH: install Slurm's client commands first (or set PATH)"
        fi
    fi

    [ "$MODE" = user ] || create_service_user

    install -d -m 0755 "$(d "$PREFIX")" "$(d "$BIN_DIR")"
    install -m 0755 "$SRC_DIR/$NAME.py" "$(d "$PREFIX/$NAME.py")"
    local doc
    for doc in config.json.example README.md QUICKSTART.md; do
        [ -f "$SRC_DIR/$doc" ] && install -m 0644 "$SRC_DIR/$doc" "$(d "$PREFIX/$doc")"
    done
    # A wrapper, not a symlink: it pins the Python found above (login nodes often have an old python3).
    local tmp
    tmp=$(mktemp)
    printf '#!/bin/sh\n# installed by %s/install.sh\nexec %s %s "$@"\n' "$NAME" "$py" "$PREFIX/$NAME.py" >"$tmp"
    install -m 0755 "$tmp" "$(d "$BIN_DIR/$NAME")"
    rm -f "$tmp"

    local config="$CONF_DIR/config.json"
    if [ "$MODE" = user ]; then
        install -d -m 0700 "$(d "$CONF_DIR")" "$(d "$STATE_DIR")" "$(d "$SPOOL_DIR")"
    else
        install -d -m 0750 "$(d "$CONF_DIR")" "$(d "$STATE_DIR")" "$(d "$SPOOL_DIR")"
        own "$(d "$STATE_DIR")" "$SERVICE_USER"
        own "$(d "$SPOOL_DIR")" "$SERVICE_USER"
        local ids
        if ids=$(user_ids "$SERVICE_USER"); then
            chown "0:${ids#*:}" "$(d "$CONF_DIR")"   # root-owned, readable by the service group
        fi
    fi
    if [ -e "$(d "$config")" ]; then
        note "keeping existing $config"
    else
        tmp=$(mktemp)
        sed -e "s#\"/var/spool/$NAME\"#\"$SPOOL_DIR\"#" -e "s#\"/var/lib/$NAME/state.json\"#\"$STATE_DIR/state.json\"#" \
            "$SRC_DIR/config.json.example" >"$tmp"
        install -m 0600 "$tmp" "$(d "$config")"
        rm -f "$tmp"
        [ "$MODE" = user ] || own "$(d "$config")" "$SERVICE_USER"
        note "created $config from the example: set api_url and api_key (or api_key_file)"
    fi

    if [ "$MODE" = user ]; then
        note "installed for $(id -un). Add this line with 'crontab -e' (daily at 02:17):"
        echo "17 2 * * * $BIN_DIR/$NAME --config $config >>$STATE_DIR/cron.log 2>&1"
        return 0
    fi
    if [ "$SYSTEMD" = yes ]; then
        install -d -m 0755 "$(d "$UNIT_DIR")"
        sed -e "s#/usr/local/bin/$NAME#$BIN_DIR/$NAME#" -e "s#/opt/$NAME/#$PREFIX/#" \
            -e "s#/etc/$NAME/#$CONF_DIR/#" -e "s#/var/lib/$NAME#$STATE_DIR#" -e "s#/var/spool/$NAME#$SPOOL_DIR#" \
            -e "s#^User=.*#User=$SERVICE_USER#" -e "s#^Group=.*#Group=$SERVICE_USER#" \
            "$SRC_DIR/$NAME.service" >"$(d "$UNIT_DIR/$NAME.service")"
        install -m 0644 "$SRC_DIR/$NAME.timer" "$(d "$UNIT_DIR/$NAME.timer")"
        chmod 0644 "$(d "$UNIT_DIR/$NAME.service")"
        if [ -z "$DESTDIR" ] && [ -d /run/systemd/system ]; then
            systemctl daemon-reload
            systemctl enable --now "$NAME.timer"
            note "timer enabled: systemctl list-timers $NAME.timer"
        else
            note "systemd is not running here: later run 'systemctl daemon-reload && systemctl enable --now $NAME.timer'"
        fi
    else
        install -d -m 0755 "$(d "$(dirname "$CRON_FILE")")"
        printf '# %s: daily run (installed by install.sh --no-systemd)\nSHELL=/bin/sh\n17 2 * * * %s %s --config %s\n' \
            "$NAME" "$SERVICE_USER" "$BIN_DIR/$NAME" "$config" >"$(d "$CRON_FILE")"
        chmod 0644 "$(d "$CRON_FILE")"
        note "cron entry $CRON_FILE runs it daily at 02:17 as $SERVICE_USER"
    fi
    note "test it: sudo -u $SERVICE_USER $BIN_DIR/$NAME --dry-run"
}

uninstall_files() {
    if [ "$MODE" = system ] && [ -z "$DESTDIR" ] && [ -d /run/systemd/system ]; then
        systemctl disable --now "$NAME.timer" 2>/dev/null || true
    fi
    rm -f "$(d "$UNIT_DIR/$NAME.service")" "$(d "$UNIT_DIR/$NAME.timer")" "$(d "$CRON_FILE")" "$(d "$BIN_DIR/$NAME")"
    rm -rf "$(d "$PREFIX")"
    if [ "$MODE" = system ] && [ -z "$DESTDIR" ] && [ -d /run/systemd/system ]; then
        systemctl daemon-reload || true
    fi
    if [ "$PURGE" = yes ]; then
        rm -rf "$(d "$CONF_DIR")" "$(d "$STATE_DIR")" "$(d "$SPOOL_DIR")"
        if [ "$MODE" = system ] && user_ids "$SERVICE_USER" >/dev/null; then
            if [ -n "$DESTDIR" ]; then userdel --root "$DESTDIR" "$SERVICE_USER"; else userdel "$SERVICE_USER"; fi
        fi
        note "removed program, config, state and spool (and the service user in a system install)"
    else
        note "removed the program; kept $CONF_DIR, $STATE_DIR and $SPOOL_DIR (undelivered drops). --purge removes them"
    fi
    [ "$MODE" = user ] && note "remove the crontab line with 'crontab -e'"
    return 0
}

if [ "$ACTION" = install ]; then install_files; else uninstall_files; fi
