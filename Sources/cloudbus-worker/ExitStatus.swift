import ArgumentParser

/// Exit codes the CLI promises: 0 success, 1 the bus answered with an error, 2 no answer / transport failure.
enum ExitStatus {
    static let replyFailed = ExitCode(1)
    static let noReply = ExitCode(2)
    static let invalidMessage = ExitCode(3)
}
