import Foundation

/// `schemas/` at the repository root, found from this file's path (Tests/WorkerTests/<file>.swift).
enum SchemaDirectory {
    static let url: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // WorkerTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // repository root
        .appendingPathComponent("schemas", isDirectory: true)

    /// File names ending in `.schema.json`, sorted; empty when the directory cannot be listed (a separate test
    /// asserts the expected set, so an empty list fails loudly instead of skipping the checks).
    static let schemaFileNames: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []
        return names.filter { $0.hasSuffix(".schema.json") }.sorted()
    }()

    static func contents(of name: String) throws -> Data {
        try Data(contentsOf: url.appendingPathComponent(name))
    }
}
