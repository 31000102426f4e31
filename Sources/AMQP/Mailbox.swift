import CRabbitMQShim
import Glibc
import Synchronization

/// The only way into a connection's owner thread: a locked command list plus an eventfd the
/// thread polls beside its socket. Writers wake the thread only when the list was empty, so a
/// burst of publishes costs one wake-up. Once closed (the owner thread is gone, or never came),
/// every command is refused at once with ``AMQPError/closed``: nobody waits for a thread that will
/// never answer.
final class Mailbox: Sendable {
    private struct State {
        var commands: [Command] = []
        var closed = false
    }

    private let state = Mutex(State())
    let wakeDescriptor: Int32
    /// The owner thread (`pthread_t`) while it serves a live connection, else 0: a post from that thread needs no
    /// wake-up, since the serving loop looks at the list before every poll that could sleep.
    private let servingThread = Atomic<UInt>(0)

    init() {
        wakeDescriptor = cloudbus_wake_eventfd()
        precondition(wakeDescriptor >= 0, "eventfd failed: errno \(errno)")
    }

    deinit { Glibc.close(wakeDescriptor) }

    func post(_ command: consuming Command) {
        if postWithoutWaking(command) { wake() }
    }

    /// Posts `command` and returns whether the owner thread needs a wake-up for it (the list was empty and the caller
    /// is not the owner thread), leaving the wake-up to the caller: a publisher first tries to run the command itself
    /// (`ConnectionOwner.borrowedPublishPass`) and wakes the owner only if that did not take everything.
    func postWithoutWaking(_ command: consuming Command) -> Bool {
        // Moved into the list, not copied: a publish's message is a dozen references (body, names, properties), each
        // retained by a copy and released again when the copy goes. Left here only when refused.
        var pending: Command? = consume command
        let accepted: Bool?  // nil: refused; otherwise whether the list was empty (the owner needs a wake-up)
        accepted = state.withLock { state in
            guard !state.closed else { return nil }
            let wasEmpty = state.commands.isEmpty
            state.commands.append(pending.take()!)
            return wasEmpty
        }
        switch accepted {
        case nil:
            pending?.reject(.closed)
            return false
        case true?: return !isOwnerThread
        case false?: return false
        }
    }

    /// Puts commands a borrowed pass did not run back at the head of the list, before anything posted since, so
    /// the owner thread runs them in their order. (Once closed they are rejected: nobody would run them.)
    func requeueAtFront(_ commands: ArraySlice<Command>) {
        let refused = state.withLock { state -> Bool in
            guard !state.closed else { return true }
            state.commands.insert(contentsOf: commands, at: 0)
            return false
        }
        if refused { for command in commands { command.reject(.closed) } }
    }

    /// Whether the caller is the owner thread, serving a live connection.
    var isOwnerThread: Bool {
        let owner = servingThread.load(ordering: .relaxed)
        return owner != 0 && owner == UInt(pthread_self())
    }

    /// Whether the owner thread serves a live connection now.
    var isServing: Bool { servingThread.load(ordering: .relaxed) != 0 }

    /// The owner thread starts (`true`) or stops serving a live connection; see ``isOwnerThread``.
    func ownerServing(_ serving: Bool) {
        servingThread.store(serving ? UInt(pthread_self()) : 0, ordering: .relaxed)
    }

    /// Stops accepting commands and returns the ones not taken yet, for the caller to reject.
    func close() -> [Command] {
        state.withLock { state in
            state.closed = true
            defer { state.commands = [] }
            return state.commands
        }
    }

    func wake() {
        var one: UInt64 = 1
        _ = write(wakeDescriptor, &one, 8)
    }

    /// Clears the wake-up first, then takes the list: a post racing with this call either lands
    /// in this batch or re-arms the eventfd.
    func drain() -> [Command] {
        var batch: [Command] = []
        drain(into: &batch)
        return batch
    }

    /// ``drain()`` by swapping lists: the pending commands move into `batch` (empty on entry) and `batch`'s storage
    /// takes the next posts. The owner thread empties and hands back the same two buffers pass after pass, so a
    /// drain allocates nothing — taking a copy and emptying the list "keeping its capacity" allocated a fresh buffer
    /// as large as the busiest burst so far (20–40 KB) on every pass.
    ///
    /// `clearingWake: false` skips the eventfd read when the caller's poll just found it empty: a wake-up that
    /// arrives after that poll stays set, and the next poll returns at once for it.
    func drain(into batch: inout [Command], clearingWake: Bool = true) {
        if clearingWake {
            var counter: UInt64 = 0
            _ = read(wakeDescriptor, &counter, 8)
        }
        state.withLock { state in
            guard !state.commands.isEmpty else { return }
            swap(&state.commands, &batch)
        }
    }

    var isEmpty: Bool { state.withLock { $0.commands.isEmpty } }
}
