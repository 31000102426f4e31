extension WorkerConfiguration {
    /// KVM host agent and VM tracer settings; ZStack's global-config names in the comments. In a configuration
    /// file every key is optional (`"kvm": {"orphanedVmSkipTimeoutSeconds": 120}` keeps the other defaults).
    public struct KVMSettings: Sendable, Codable, Equatable {
        /// `host.ping.timeout`. Default: 10 s per attempt.
        public var pingTimeoutSeconds: Double = 10
        /// `host.ping.maxFailure`: attempts before the host counts as disconnected. Default: 3.
        public var pingMaxFailure: Int = 3
        /// `ping.sleepPeriodAfterFailure`. Default: 1 s.
        public var pingSleepAfterFailureSeconds: Double = 1
        /// Connect timeout for agent HTTP calls. Default: 5 s.
        public var agentConnectTimeoutSeconds: Double = 5
        /// `kvm.vmSyncOnHostPing`: run the VM tracer's sync after each successful ping. Default: true.
        /// Changeable at runtime.
        public var vmSyncOnHostPing: Bool = true
        /// `kvm.orphanedVmSkipTimeout`: how long the VMs of a departed management node's in-flight operations stay
        /// skipped, in whole seconds > 0. Default: 600. Changeable at runtime; applies to existing entries.
        public var orphanedVmSkipTimeoutSeconds: Int = 600
        /// `VM_TRACER_ON` (a ZStack global property): when false, syncs compare nothing and report nothing.
        public var vmTracerOn: Bool = true
        /// `vm.enable.vm.address.recording`: when false, device-info syncs store no addresses. Default: true.
        public var vmAddressRecording: Bool = true

        public init() {}

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            let defaults = KVMSettings()
            func read<T: Decodable>(_ key: CodingKeys, _ fallback: T) throws -> T {
                try container.decodeIfPresent(T.self, forKey: key) ?? fallback
            }
            pingTimeoutSeconds = try read(.pingTimeoutSeconds, defaults.pingTimeoutSeconds)
            pingMaxFailure = try read(.pingMaxFailure, defaults.pingMaxFailure)
            pingSleepAfterFailureSeconds = try read(.pingSleepAfterFailureSeconds, defaults.pingSleepAfterFailureSeconds)
            agentConnectTimeoutSeconds = try read(.agentConnectTimeoutSeconds, defaults.agentConnectTimeoutSeconds)
            vmSyncOnHostPing = try read(.vmSyncOnHostPing, defaults.vmSyncOnHostPing)
            orphanedVmSkipTimeoutSeconds = try read(.orphanedVmSkipTimeoutSeconds, defaults.orphanedVmSkipTimeoutSeconds)
            vmTracerOn = try read(.vmTracerOn, defaults.vmTracerOn)
            vmAddressRecording = try read(.vmAddressRecording, defaults.vmAddressRecording)
        }
    }

    /// ZBS MDS call settings. Every key is optional in a configuration file.
    public struct ZBSSettings: Sendable, Codable, Equatable {
        /// TCP connect timeout of one MDS attempt (`zbs.mds.connectTimeout`, the pull request's 30 s). Default: 30 s.
        public var mdsConnectTimeoutSeconds: Double = 30
        /// Whole deadline of one MDS attempt, request to answer (or callback). Default: 30 s.
        public var mdsAttemptTimeoutSeconds: Double = 30
        /// How long an MDS that just failed at transport level is tried last by following calls. Default: 60 s.
        public var mdsFailureMemorySeconds: Double = 60
        /// Concurrent calls per MDS (ZStack's async pool allows 2 per route). Default: 8.
        public var mdsConcurrencyPerMds: Int = 8
        /// Agent HTTP port of the MDS (`Zbs.primaryStorageAgent.port`). Default: 7763.
        public var mdsAgentPort: Int = 7763

        public init() {}

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            let defaults = ZBSSettings()
            func read<T: Decodable>(_ key: CodingKeys, _ fallback: T) throws -> T {
                try container.decodeIfPresent(T.self, forKey: key) ?? fallback
            }
            mdsConnectTimeoutSeconds = try read(.mdsConnectTimeoutSeconds, defaults.mdsConnectTimeoutSeconds)
            mdsAttemptTimeoutSeconds = try read(.mdsAttemptTimeoutSeconds, defaults.mdsAttemptTimeoutSeconds)
            mdsFailureMemorySeconds = try read(.mdsFailureMemorySeconds, defaults.mdsFailureMemorySeconds)
            mdsConcurrencyPerMds = try read(.mdsConcurrencyPerMds, defaults.mdsConcurrencyPerMds)
            mdsAgentPort = try read(.mdsAgentPort, defaults.mdsAgentPort)
        }
    }
}
