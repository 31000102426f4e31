import CRabbitMQShim
import Glibc
import Synchronization

/// The only way into a connection's owner thread: a locked command list plus an eventfd the
/// thread polls beside its socket. Writers wake the thread only when the list was empty, so a
/// burst of publishes costs one wake-up.
final class Mailbox: Sendable {
    private let commands = Mutex<[Command]>([])
    let wakeDescriptor: Int32

    init() {
        wakeDescriptor = cloudbus_wake_eventfd()
        precondition(wakeDescriptor >= 0, "eventfd failed: errno \(errno)")
    }

    deinit { Glibc.close(wakeDescriptor) }

    func post(_ command: Command) {
        let wasEmpty = commands.withLock { list in
            let wasEmpty = list.isEmpty
            list.append(command)
            return wasEmpty
        }
        if wasEmpty { wake() }
    }

    func wake() {
        var one: UInt64 = 1
        _ = write(wakeDescriptor, &one, 8)
    }

    /// Clears the wake-up first, then takes the list: a post racing with this call either lands
    /// in this batch or re-arms the eventfd.
    func drain() -> [Command] {
        var counter: UInt64 = 0
        _ = read(wakeDescriptor, &counter, 8)
        return commands.withLock { list in
            guard !list.isEmpty else { return [] }
            let taken = list
            list.removeAll(keepingCapacity: true)
            return taken
        }
    }

    var isEmpty: Bool { commands.withLock { $0.isEmpty } }
}
