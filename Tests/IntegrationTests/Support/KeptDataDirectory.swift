import CloudBus
import Foundation
import Worker

/// A worker data directory that survives ``WorkerHarness/stop()``, for tests that restart a worker on the same
/// inventory (same node id, same SQLite file).
///
/// `WorkerHarness.stop()` deletes the worker's `dataDirectory`. Each worker lifetime is therefore given its own
/// symbolic link to the kept directory (``link()``): stopping the harness removes that link, not the data. Tests
/// should still check that the inventory file is there after a stop (``inventoryExists``), so a platform whose
/// removal followed the link would fail the test instead of passing it on an empty store.
struct KeptDataDirectory: Sendable {
    let root: String
    /// The real directory.
    let path: String

    init() throws {
        root = NSTemporaryDirectory() + "cbw-kept-\(MessageID.random())"
        path = root + "/data"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// A new link to ``path``, to use as one worker lifetime's `dataDirectory`.
    func link() throws -> String {
        let link = root + "/link-\(MessageID.random())"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: path)
        return link
    }

    var inventoryExists: Bool {
        FileManager.default.fileExists(atPath: WorkerRuntime.inventoryPath(dataDirectory: path))
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: root)
    }
}
