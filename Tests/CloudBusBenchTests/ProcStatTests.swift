@testable import CloudBusBench
import Foundation
import Testing

@Suite("What the bench reads from /proc")
struct ProcStatTests {
    @Test("context switches of a process: a shell that waited for three children has switched at least three times")
    func contextSwitches() async throws {
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/sh")
        shell.arguments = ["-c", "sleep 0.02; sleep 0.02; sleep 0.02; sleep 5"]
        try shell.run()
        defer { shell.terminate() }
        try await Task.sleep(for: .milliseconds(600))
        let switches = try #require(BenchProcStat.contextSwitches(pid: shell.processIdentifier))
        #expect(switches >= 3)  // every wait for a child gives the CPU up
        #expect(BenchProcStat.contextSwitches(pid: -1) == nil)
    }
}
