import Foundation
import Primitives
import Testing

@Suite("Exclusive file lock")
struct ExclusiveFileLockTests {
    @Test("a second holder is refused as held until the first is released; what the holder records is in the file")
    func heldUntilReleased() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("lock-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        var first: ExclusiveFileLock? = try ExclusiveFileLock.acquire(path: path)
        first?.record("4242\n")
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "4242\n")
        do {
            _ = try ExclusiveFileLock.acquire(path: path)
            Issue.record("a second lock was taken beside the first")
        } catch {
            guard case .held = error else { Issue.record("expected .held, got \(error)"); return }
        }
        first = nil
        _ = try ExclusiveFileLock.acquire(path: path)
        _ = first
    }

    /// A child spawned while the lock is held inherits its descriptor until `exec` closes it (close-on-exec): under
    /// load that is long enough for a released lock to be refused to its next holder. A `dup` of the descriptor
    /// stands in for the child's copy.
    @Test("released is released at once, though another copy of the descriptor (a spawning child's) is still open")
    func releasedDespiteACopy() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("lock-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        var first: ExclusiveFileLock? = try ExclusiveFileLock.acquire(path: path)
        let descriptor = try #require(try Self.descriptors(openOn: path).first)
        let copy = dup(descriptor)
        try #require(copy >= 0)
        defer { close(copy) }
        first = nil
        _ = try ExclusiveFileLock.acquire(path: path)
        _ = first
    }

    /// This process's descriptors whose file is `path` (from `/proc/self/fd`).
    private static func descriptors(openOn path: String) throws -> [CInt] {
        try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").compactMap { name in
            let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(name)")
            return target == path ? CInt(name) : nil
        }
    }

    @Test("a file that cannot be opened is unusable, with the system's reason")
    func unusable() {
        do {
            _ = try ExclusiveFileLock.acquire(path: "/nonexistent-\(UUID().uuidString)/lock")
            Issue.record("a lock was taken in a directory that does not exist")
        } catch {
            guard case .unusable(let reason) = error else { Issue.record("expected .unusable, got \(error)"); return }
            #expect(reason.contains("No such file"), "\(reason)")
        }
    }
}
