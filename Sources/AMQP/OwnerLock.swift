import Glibc

/// The right to call into one connection's rabbitmq-c state. The owner thread holds it all the time except while it
/// sleeps in `poll` on a live connection; another thread that takes it then (``tryLock()``, never waiting) may run
/// publishes on the owner's behalf (see `ConnectionOwner.borrowedPublishPass`).
///
/// A plain pthread mutex rather than `Synchronization.Mutex`: the owner releases and retakes it around one call in
/// the middle of its loop, which a closure-scoped lock cannot express.
final class OwnerLock: @unchecked Sendable {
    // @unchecked: the mutex is heap-allocated once, never moved, and every access goes through pthread calls,
    // which are thread-safe by contract.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        precondition(pthread_mutex_init(mutex, nil) == 0, "pthread_mutex_init failed")
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deinitialize(count: 1)
        mutex.deallocate()
    }

    func lock() { pthread_mutex_lock(mutex) }

    /// Takes the lock if nobody holds it; never waits (also false when the calling thread holds it already).
    func tryLock() -> Bool { pthread_mutex_trylock(mutex) == 0 }

    func unlock() { pthread_mutex_unlock(mutex) }
}
