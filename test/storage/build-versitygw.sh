#!/usr/bin/env bash
# Builds versitygw (github.com/versity/versitygw, Apache-2.0), a real S3 gateway whose posix backend
# serves a directory, from its pinned Go module into ~/.cache/loraplane; prints its path.
set -euo pipefail
# shellcheck source=../lib/go-tool.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/go-tool.sh"

VERSITYGW_VERSION="${VERSITYGW_VERSION:-v1.8.0}"
versitygw_ldflags() { echo "-X main.Version=$VERSITYGW_VERSION"; }

go_tool versitygw github.com/versity/versitygw "$VERSITYGW_VERSION" github.com/versity/versitygw/cmd/versitygw versitygw_ldflags
