#!/bin/sh
#  cgroupfs-wrap.sh CMD...: run CMD with the cgroup v1 cpu/cpuacct/memory
#  hierarchies visible under /sys/fs/cgroup.  `ip netns exec` mounts a
#  fresh sysfs for the namespace, which hides /sys/fs/cgroup; on a real box
#  the agent sees it, so the test bed must too for node_collector to find
#  its quota.  The mounts live in ip netns exec's private mount namespace
#  only.  Does nothing when /sys/fs/cgroup is already populated.
if [ ! -e /sys/fs/cgroup/cpu ] && [ ! -e /sys/fs/cgroup/cgroup.controllers ]; then
    mount -t tmpfs -o mode=755 cgroup /sys/fs/cgroup 2>/dev/null &&
    for c in cpu cpuacct memory; do
        mkdir -p /sys/fs/cgroup/$c && mount -t cgroup -o $c cgroup /sys/fs/cgroup/$c 2>/dev/null
    done
    [ -e /sys/fs/cgroup/cpu/cpu.cfs_quota_us ] || mount -t cgroup2 none /sys/fs/cgroup 2>/dev/null
fi
exec "$@"
