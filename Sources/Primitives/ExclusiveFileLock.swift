#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An exclusive `flock` on a file, taken without waiting and held until this value is released — or the process
/// dies (`kill -9` included), so a crash never leaves a stale lock behind. What the worker's data directory and a
/// database's answer log each use to keep a second writer out.
public final class ExclusiveFileLock: Sendable {
    /// Why the lock was not taken.
    public enum Failure: Error, Sendable {
        /// Another open file description holds it (another process, or another lock object in this one).
        case held
        /// The file could not be opened or locked; `reason` is the system's.
        case unusable(reason: String)
    }

    public let path: String
    private let descriptor: CInt

    private init(path: String, descriptor: CInt) {
        self.path = path
        self.descriptor = descriptor
    }

    /// Unlocks, then closes. The unlock is what releases it at once: the lock belongs to the open file description,
    /// and a child this process is spawning holds a copy of the descriptor until its `exec` closes it, so a plain
    /// `close` could leave the lock held for that moment after its holder let it go.
    deinit {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }

    /// Takes the lock on `path` (created if missing), or throws at once: it never waits.
    public static func acquire(path: String) throws(Failure) -> ExclusiveFileLock {
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw .unusable(reason: String(cString: strerror(errno))) }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let failure: Failure = errno == EWOULDBLOCK ? .held : .unusable(reason: String(cString: strerror(errno)))
            close(descriptor)
            throw failure
        }
        return ExclusiveFileLock(path: path, descriptor: descriptor)
    }

    /// Replaces the file's content with `text` (the holder's pid, for the next one's error message); best effort.
    public func record(_ text: String) {
        let bytes = Array(text.utf8)
        _ = ftruncate(descriptor, 0)
        _ = bytes.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
    }
}
