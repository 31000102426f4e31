import CloudBusTesting
import Foundation
import Testing

/// Runs the real `cloudbus-worker` binary (built by `swift build --build-tests`) as people do.
enum CLIProcess {
    static var binary: URL {
        // Tests/IntegrationTests/Support/CLIProcess.swift → package root
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/cloudbus-worker")
    }

    struct Result {
        var status: Int32
        var output: String
        var errors: String
    }

    /// Runs to completion with `input` on stdin; the broker URL and password come from the environment.
    /// The process is run and waited for on a thread of its own (`onDedicatedThread`), not on the cooperative pool.
    static func run(_ arguments: [String], input: Data? = nil, environment extra: [String: String] = [:]) async throws
        -> Result
    {
        try await onDedicatedThread { try runBlocking(arguments, input: input, environment: extra) }
    }

    private static func runBlocking(_ arguments: [String], input: Data?, environment extra: [String: String]) throws
        -> Result
    {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        if let url = TestBroker.url, var components = URLComponents(string: url) {
            environment["CLOUDBUS_AMQP_PASSWORD"] = components.password ?? "guest"
            components.password = nil
            environment["CLOUDBUS_AMQP_URL"] = components.string
        }
        for (key, value) in extra { environment[key] = value }
        process.environment = environment
        let stdout = Pipe(), stderr = Pipe(), stdin = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = stdin
        try process.run()
        if let input { stdin.fileHandleForWriting.write(input) }
        try stdin.fileHandleForWriting.close()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        let errors = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, output: String(decoding: output, as: UTF8.self),
                      errors: String(decoding: errors, as: UTF8.self))
    }
}
