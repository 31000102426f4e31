import CloudBus
import Foundation
import Primitives
import Testing

@Suite("Error codes")
struct ErrorCodeTests {
    @Test func systemErrorsCarryZStackCodesAndDescriptions() {
        let expected: [SysError: (String, String)] = [
            .internalError: ("SYS.1000", "An internal error happened in system"),
            .timeout: ("SYS.1001", "A message or a operation timeout"),
            .operationError: ("SYS.1006", "An operation failed"),
            .invalidArgument: ("SYS.1007", "One or more API argument is invalid"),
            .unknownMessage: ("SYS.1008", "Unknown message, no service can deal with the message"),
            .noRoute: ("SYS.1009", "No route for message"),
            .notReady: ("SYS.1010", "Management server is not ready to serve"),
            .undeliverable: ("SYS.1011", "The message can not be delivered by Rabbitmq"),
            .managementNodeUnavailable: ("SYS.1012", "The management node is unavailable"),
        ]
        #expect(Set(SysError.allCases) == Set(expected.keys))
        for (error, (code, description)) in expected {
            let built = error.error("d")
            #expect(built.code == code)
            #expect(built.description == description)
            #expect(built.details == "d")
            #expect(built.isError(error))
        }
    }

    @Test func timeoutDetailsUseWholeSeconds() {
        let error = SysError.timeout(className: "org.zstack.header.host.PingHostMsg", id: "abc", timeoutMillis: 1_500)
        #expect(error.details == "Message[name: org.zstack.header.host.PingHostMsg, id: abc] timeout after 1 seconds")
        #expect(error.isError(.timeout))
    }

    @Test func nodeUnavailableDetailsMatchTheTracker() {
        let error = SysError.managementNodeUnavailable(nodeUuid: WireExamples.nodeB)
        #expect(error.code == "SYS.1012")
        #expect(error.details == "management node[uuid:9b1d387e11bd3ab0a673c655eb4c8f66] is unavailable")
    }

    @Test func detailsAreTruncatedTo4096Characters() {
        #expect(SysError.internalError.error(String(repeating: "x", count: 5000)).details?.count == 4096)
    }

    @Test func nestedCausesRoundTripThroughJSON() throws {
        let error = ErrorCode(
            code: "HOST.1000", description: "d", details: "outer",
            cause: ErrorCode(code: "SYS.1006", details: "middle", cause: ErrorCode(code: "SYS.1000", details: "root")),
            causes: [ErrorCode(code: "SYS.1001")], cost: "3ms", opaque: ["noReconnect": true])
        let data = try JSONEncoder().encode(error)
        let back = try JSONDecoder().decode(ErrorCode.self, from: data)
        #expect(back == error)
        #expect(back.cause?.cause?.details == "root")
        #expect(try JSONValue(parsing: data)["cause"]?["cause"]?["code"] == "SYS.1000")
        #expect(
            error.schemaEntries(at: "error").map(\.path) == [
                "error", "error.cause", "error.cause.cause", "error.causes[0]",
            ])
    }

    @Test func settingCauseToNilRemovesIt() {
        var error = SysError.operationError.error("x", cause: SysError.internalError.error("y"))
        #expect(error.cause != nil)
        error.cause = nil
        #expect(error.cause == nil)
        #expect(error.schemaEntries(at: "error").count == 1)
    }
}
