import AgentConfiguration
import Foundation
import HelperProtocol
import MediaReader
import Protector
import Sandbox

/// The job for one medium, from the configuration.
public enum MediaHelperJob {
    /// `protector` nil: the policy's parsing bounds only, no engines (listing patients).
    public static func make(_ source: String, _ configuration: Configuration, _ protector: Protector?, scratch: URL,
                     mediumScans: Bool = false, inspect: Bool = false, oneFile: Bool = false) -> HelperJob {
        var walk = WalkLimits()
        walk.maxDepth = configuration.maxDirectoryDepth
        walk.maxEntries = configuration.maxEntries
        walk.maxTotalBytes = configuration.maxTotalBytes
        walk.maxFileSize = configuration.maxFileSize
        var resources = ResourceLimits()
        resources.addressSpaceBytes = configuration.sandbox.memoryBytes
        resources.cpuSeconds = configuration.sandbox.cpuSeconds
        resources.openFiles = configuration.sandbox.openFiles
        var job = HelperJob(sourceName: source, scratch: scratch.path, walk: walk, inMemoryFileLimit: configuration.inMemoryFileLimit,
                            workers: configuration.workers, policy: protector?.policy ?? ProtectorSetup.policy(configuration, reconciliation: nil),
                            engines: protector?.engines.map(\.name) ?? [], resources: resources)
        job.mediumScans = mediumScans
        if inspect { job.inspect = true }
        if oneFile { job.oneFile = true }
        return job
    }
}
