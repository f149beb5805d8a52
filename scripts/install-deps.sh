#!/usr/bin/env bash
# Installs what the build and tests need beyond the .NET SDK. NuGet packages come by restore;
# Debian packages would be installed here (apt-get) when a test needs one. Today nothing else is needed.
set -euo pipefail
if ! command -v dotnet >/dev/null 2>&1; then
  echo "install-deps: the .NET 10 SDK (dotnet) is required: https://dotnet.microsoft.com/download" >&2
  exit 1
fi
