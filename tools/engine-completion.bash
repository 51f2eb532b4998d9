# Bash completion for engine (docs/cli.md). Load it with
#   source tools/engine-completion.bash
# or copy it to ~/.local/share/bash-completion/completions/engine. Commands and flags are read
# from the binary's own help (`engine help`, `engine help CMD`) once per shell, so they cannot
# drift from it; graph arguments complete to .toml files and directories.

declare -gA _engine_cache

# The help of `engine help [CMD]`, run once per shell and kept ($1: the binary as typed).
_engine_help() {
  local key="$2"
  [[ -z ${key} ]] && key=" "
  if [[ -z ${_engine_cache[$key]+set} ]]; then
    _engine_cache[$key]=$("$1" help $2 2>/dev/null)
  fi
  printf '%s\n' "${_engine_cache[$key]}"
}

_engine_commands() {
  _engine_help "$1" "" | awk '/^Subcommands:/ { on = 1; next } on && /^  [a-z]/ { print $1 }'
}

_engine_flags() {
  _engine_help "$1" "$2" | sed -nE 's/^  (-[^ ]*).*/\1/p' | tr ',' '\n'
}

_engine_graph_files() {  # .toml files and directories to walk into
  compopt -o filenames 2>/dev/null
  COMPREPLY=($(compgen -f -X '!*.toml' -- "$1") $(compgen -d -- "$1"))
}

_engine() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]} bin=${COMP_WORDS[0]}
  local IFS=$'\n'
  if ((COMP_CWORD == 1)); then
    COMPREPLY=($(compgen -W "$(_engine_commands "$bin")"$'\n'--help$'\n'--version -- "$cur"))
    return
  fi
  local cmd=${COMP_WORDS[1]}
  case $prev in
    --data | --run-dir | --out)
      compopt -o filenames 2>/dev/null
      COMPREPLY=($(compgen -d -- "$cur"))
      return ;;
    -o | --output)
      compopt -o filenames 2>/dev/null
      COMPREPLY=($(compgen -f -- "$cur"))
      return ;;
    --to) COMPREPLY=($(compgen -W $'pytorch\nonnx' -- "$cur")); return ;;
    --device) COMPREPLY=($(compgen -W $'cpu\ncuda\nauto' -- "$cur")); return ;;
    --set | --stop-after | --nproc | --jobs | --samples | --batch | --iterations | --top) return ;;
  esac
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$(_engine_flags "$bin" "$cmd")" -- "$cur"))
    return
  fi
  case $cmd in
    help) COMPREPLY=($(compgen -W "$(_engine_commands "$bin")" -- "$cur")) ;;
    ops) ;;
    predict)  # a run directory or graph, then images
      compopt -o filenames 2>/dev/null
      COMPREPLY=($(compgen -f -- "$cur")) ;;
    *) _engine_graph_files "$cur" ;;
  esac
}

complete -F _engine engine
