/*  =========================================================================
    node_statelock - one agent per STATE_DIR.

    STATE_DIR holds a box's identity (node key), its state DB and its
    control socket.  A second agent started on the same directory used to
    take all three over: it unlinked the running agent's control socket,
    spoke with the same node id, and peers then listed the running box as
    left.  So the agent (and the analysis server) holds an exclusive lock on
    STATE_DIR/agent.lock for its whole life, taken before anything else in
    the directory is touched; a second process refuses to start, naming the
    PID that holds it.

    The lock is a POSIX record lock (fcntl F_SETLK): the kernel drops it
    when the process dies, kill -9 included, so a crash never leaves a stale
    lock behind; and F_GETLK tells anyone who can read the file which PID
    holds it without taking it (node_statelock_holder: `meshwatch leave`
    waits on it).  The file also holds the PID as text, for people.  It is
    never deleted (deleting a lock file races with the next locker).
    ========================================================================= */
#ifndef NODE_STATELOCK_H_INCLUDED
#define NODE_STATELOCK_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct _node_statelock_t node_statelock_t;

//  Lock STATE_DIR (created with mode 0700 if missing).  NULL when another
//  process holds it ("STATE_DIR DIR is in use by PID N" in err) or on a
//  system error (the reason in err).
node_statelock_t *node_statelock_new (const char *state_dir, char *err, size_t errlen);
//  Release the lock (the kernel also does, at exit).
void node_statelock_destroy (node_statelock_t **self_p);

//  The PID of the process that holds STATE_DIR's lock: > 0; 0 when none
//  holds it (or this very process does: a process never conflicts with
//  its own locks); -1 with errno when the lock file cannot be read
//  (ENOENT: no agent ever ran there; EACCES: not ours to look at).
pid_t node_statelock_holder (const char *state_dir);

int node_statelock_test (bool verbose);

#endif
