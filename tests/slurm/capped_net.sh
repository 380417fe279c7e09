#!/bin/bash
# A network with a bandwidth cap per rank, on one machine (docs/SCALING.md): a private network
# namespace whose loopback carries every rank's TCP traffic, with HTB classes on it that limit each
# direction of each rank-to-rank connection to RATE (a full-duplex link of RATE per rank in a ring). Nothing outside
# the namespace is touched; it is deleted at the end (also on failure). Root only.
#   tests/slurm/capped_net.sh RATE NP -- attn_train args...      e.g. 400mbit 4 -- build/attn_train --model ...
# runs `mpirun -np NP` inside it with Open MPI on TCP (btl tcp,self).
set -u
RATE=$1 NP=$2; shift 3
NS=attn_capped_$$
[ "$(id -u)" = 0 ] || { echo "SKIP: capped_net.sh needs root (network namespaces, tc)"; exit 77; }
trap 'ip netns del $NS 2>/dev/null' EXIT
ip netns add $NS || exit 77
X="ip netns exec $NS"
$X ip link set lo mtu 9000 up # jumbo frames, as on cluster Ethernet (65536 on loopback: too coarse to shape)
$X tc qdisc add dev lo root handle 1: htb default 99 r2q 1000
$X tc class add dev lo parent 1: classid 1:99 htb rate 100gbit
# pure ACKs and other small packets (IP length < 128) unshaped: on a real full-duplex link they do
# not queue behind the data going the same way (here they would share its class and starve the
# opposite flow: a 2-rank ring sends both ways on one connection)
$X tc filter add dev lo parent 1: protocol ip prio 1 u32 match u16 0x0000 0xff80 at 2 flowid 1:99
apps=()
for i in $(seq 0 $((NP - 1))); do
  # rank i listens on ports 20480+64i .. +63 (btl_tcp_port_min_v4/range_v4); a connection's two
  # directions are told apart by that port as source (sent by the listener) or destination (sent to
  # it); in a ring every active direction has a class of its own, so each is limited to RATE
  port=$((20480 + 64 * i))
  for d in 0 1; do
    $X tc class add dev lo parent 1: classid 1:$((10 + 2 * i + d)) htb rate $RATE ceil $RATE burst 64k cburst 64k
    $X tc qdisc add dev lo parent 1:$((10 + 2 * i + d)) pfifo limit 64
    $X tc filter add dev lo parent 1: protocol ip prio 2 u32 match ip $([ $d = 0 ] && echo sport || echo dport) $port 0xffc0 \
      flowid 1:$((10 + 2 * i + d))
  done
  [ $i -gt 0 ] && apps+=(:)
  apps+=(-np 1 env OMPI_MCA_btl_tcp_port_min_v4=$port OMPI_MCA_btl_tcp_port_range_v4=64 "$@")
done
$X env OMPI_MCA_btl=tcp,self OMPI_MCA_oob_tcp_if_include=lo OMPI_MCA_btl_tcp_if_include=lo OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
  OMPI_MCA_rmaps_base_oversubscribe=1 mpirun ${CAPPED_MPIRUN_ARGS:--q} --bind-to none "${apps[@]}"
rc=$?
[ -n "${CAPPED_STATS:-}" ] && $X tc -s class show dev lo | grep -A1 "class htb 1:[1-9][0-9] " >&2
exit $rc
