# Sanity: the runner's helpers work and the product binary builds; the other witnesses lean on both.
bin=$(conf_bin skygeni)
"$bin" --version >/dev/null || conf_fail "skygeni --version failed"
conf_log "skygeni binary: $bin"
