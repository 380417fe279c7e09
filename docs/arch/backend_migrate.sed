# Rewrites code written against the old backend table (be->to_host(...), nn_cpu_backend.set_threads(n))
# to the instance API: sed -E -i -f docs/arch/backend_migrate.sed FILES
s/(([A-Za-z_][A-Za-z_0-9]*(->|\.))*be)->(to_host|to_device|copy|alloc|free|fill|axpy|sync)\(/nn_be_\4(\1, /g
s/nn_cpu_backend\.(to_host|to_device|copy|alloc|free|fill|axpy|sync|gemm)\(/nn_be_\1(\&nn_cpu_backend, /g
s/nn_cpu_backend\.set_threads\(/nn_backend_set_threads(\&nn_cpu_backend, /g
s/(([A-Za-z_][A-Za-z_0-9]*(->|\.))*be)->gemm\(/nn_be_gemm(\1, /g
