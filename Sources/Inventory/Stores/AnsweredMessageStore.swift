/// One message the worker finished, with the reply it sent: what a duplicate of the message gets again.
public struct AnsweredMessage: Sendable, Equatable {
    /// The message id (32 lowercase hex digits; the pipeline refuses others before they get here).
    public var id: String
    /// The reply envelope as published, or nil when the message wanted none.
    public var reply: [UInt8]?
    public var answeredAtEpochMillis: Int64

    public init(id: String, reply: [UInt8]?, answeredAtEpochMillis: Int64) {
        self.id = id
        self.reply = reply
        self.answeredAtEpochMillis = answeredAtEpochMillis
    }
}

/// The persisted half of the worker's dedupe window, so a restart (even `kill -9`) does not forget which messages
/// were answered: a sender's retry after the restart still gets the same reply instead of a second execution.
///
/// Written in batches (the worker's group commit): each call is one transaction.
public protocol AnsweredMessageStore: Sendable {
    /// The most recent `limit` answers, oldest first.
    func loadAnsweredMessages(limit: Int) async throws -> [AnsweredMessage]

    /// The ids of the most recent `limit` answers, oldest first, and whether each had a reply — what a worker keeps
    /// in memory at start (the reply bodies stay in the store until a duplicate asks for one).
    func answeredMessageIds(limit: Int) async throws -> [(id: String, hasReply: Bool)]

    /// The answer recorded for `id`, or nil.
    func answeredMessage(id: String) async throws -> AnsweredMessage?

    /// Records `answers` (a later answer for the same id replaces the earlier one), keeps the most recent
    /// `keepingLast` answers and drops older ones — exactly (tables), or a window's worth at a time (a file database's
    /// ``AnswerLog``: fewer than two windows and a batch) — and removes the outbox rows `sent` (their messages were
    /// confirmed): in one transaction, or for the answer log right after the answers are synced.
    func recordAnsweredMessages(_ answers: [AnsweredMessage], keepingLast: Int, removingOutbox sent: [Int64])
        async throws
}

extension AnsweredMessageStore {
    /// ``recordAnsweredMessages(_:keepingLast:removingOutbox:)`` with no outbox rows to remove.
    public func recordAnsweredMessages(_ answers: [AnsweredMessage], keepingLast: Int) async throws {
        try await recordAnsweredMessages(answers, keepingLast: keepingLast, removingOutbox: [])
    }
}

/// A store that can record answers on the calling thread, returning once the transaction is committed (durably, as
/// ``AnsweredMessageStore/recordAnsweredMessages(_:keepingLast:removingOutbox:)`` promises). The worker's answer
/// journal writes from a thread of its own; with this it commits there directly instead of hopping through the
/// store's queue and Swift's pool and back for every batch (SQLite: GRDB runs a blocking write on its caller).
public protocol BlockingAnswerRecorder: AnsweredMessageStore {
    /// ``AnsweredMessageStore/recordAnsweredMessages(_:keepingLast:removingOutbox:)``, blocking the calling
    /// thread. Never call it from Swift's cooperative pool.
    func recordAnsweredMessagesBlocking(_ answers: [AnsweredMessage], keepingLast: Int, removingOutbox sent: [Int64])
        throws
}
