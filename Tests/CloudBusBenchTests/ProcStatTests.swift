@testable import CloudBusBench
import Foundation
import Testing

@Suite("What the bench reads from /proc")
struct ProcStatTests {
    @Test("context switches of a process: a shell that waited for three children has switched at least three times")
    func contextSwitches() async throws {
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/sh")
        // The last sleep outlives any polling below (the shell is terminated when the test ends): on a loaded
        // machine the first poll may come seconds late, and a shell gone by then has no /proc entry to read.
        shell.arguments = ["-c", "sleep 0.02; sleep 0.02; sleep 0.02; sleep 120"]
        try shell.run()
        defer { shell.terminate() }
        // Every wait for a child gives the CPU up. Polled rather than timed: a loaded machine may start the shell late.
        var switches = 0
        for _ in 0..<200 where switches < 3 {
            switches = try #require(BenchProcStat.contextSwitches(pid: shell.processIdentifier))
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(switches >= 3)
        #expect(BenchProcStat.contextSwitches(pid: -1) == nil)
    }
}
