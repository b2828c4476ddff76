// PortalBench: runs the portal's own parts for bench/portal-queue and bench/portal-upload.
//
//   PortalBench cluster start|stop --cluster DIR [--volatile]   the embedded cluster, migrated (start)
//   PortalBench queue --workers 4 --jobs 10000 --cluster DIR [--volatile]
//       starts the cluster if needed, empties `jobs`, enqueues the jobs (JobQueue.enqueue, `workers` at a time),
//       then `workers` concurrent workers claim and complete until the queue is empty; prints one JSON line.
//   PortalBench upload-server --dir DIR --port P
//       TusServer on 127.0.0.1:P over FileStagingStore(DIR/staging) and FileUploadRegistry(DIR/registry);
//       `Authorization: Bearer NAME` is the owner, each owner's uploads join batch-NAME. Runs until SIGTERM/SIGINT.
import Crypto
import Foundation
import Hummingbird
import Logging
import PortalStore
import Synchronization
import Uploads

func option(_ name: String, in arguments: [String]) -> String? {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return nil }
    return arguments[index + 1]
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("PortalBench: \(message)\n".utf8))
    exit(2)
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
}

func makeLogger() -> Logger {
    var logger = Logger(label: "portal-bench")
    logger.logLevel = .warning
    return logger
}

func cluster(_ arguments: [String]) throws -> EmbeddedPostgres {
    guard let directory = option("--cluster", in: arguments) else { fail("--cluster DIR is required") }
    return try EmbeddedPostgres(directory: directory, durability: arguments.contains("--volatile") ? .volatile : .durable,
                                logger: makeLogger())
}

/// Starts the cluster (creating it the first time) and applies the migrations.
func startMigrated(_ postgres: EmbeddedPostgres) async throws -> PortalDatabase {
    try await postgres.start()
    let database = try PortalDatabase(settings: postgres.settings, logger: makeLogger())
    do {
        try await Migrator.migrate(database)
    } catch {
        await database.shutdown()
        throw error
    }
    return database
}

func clusterCommand(_ arguments: [String]) async throws {
    let postgres = try cluster(arguments)
    switch arguments.first {
    case "start":
        let database = try await startMigrated(postgres)
        await database.shutdown()
        print(postgres.socketDirectory)
    case "stop":
        try await postgres.stop()
    default:
        fail("cluster start|stop --cluster DIR")
    }
}

func queueCommand(_ arguments: [String]) async throws {
    guard let workers = Int(option("--workers", in: arguments) ?? "4"), workers > 0,
          let jobs = Int(option("--jobs", in: arguments) ?? "10000"), jobs > 0 else { fail("queue: --workers and --jobs take positive numbers") }
    let database = try await startMigrated(try cluster(arguments))
    let logger = makeLogger()
    let queue = JobQueue(database)
    do {
        try await database.client.query("TRUNCATE jobs RESTART IDENTITY", logger: logger)

        let enqueueStart = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<workers {
                group.addTask {
                    for number in stride(from: worker, to: jobs, by: workers) {
                        try await queue.enqueue(NewJob(kind: "bench", payloadJSON: "{\"n\": \(number)}"))
                    }
                }
            }
            try await group.waitForAll()
        }
        let enqueued = seconds(enqueueStart.duration(to: .now))

        let runStart = ContinuousClock.now
        let perWorker = try await withThrowingTaskGroup(of: Int.self) { group in
            for worker in 0..<workers {
                group.addTask {
                    var done = 0
                    while let job = try await queue.claim(worker: "bench-\(worker)", lease: 300) {
                        try await queue.complete(job.lease)
                        done += 1
                    }
                    return done
                }
            }
            var counts: [Int] = []
            for try await count in group { counts.append(count) }
            return counts
        }
        let ran = seconds(runStart.duration(to: .now))

        var doneRows = 0
        for try await count in try await database.client.query("SELECT count(*)::int FROM jobs WHERE state = 'done'", logger: logger).decode(Int.self) {
            doneRows = count
        }
        let completed = perWorker.reduce(0, +)
        let result: [String: any Sendable] = [
            "jobs": jobs, "workers": workers, "completed": completed, "done_rows": doneRows, "per_worker": perWorker,
            "enqueue_s": enqueued, "enqueue_per_s": Double(jobs) / enqueued,
            "run_s": ran, "jobs_per_s": Double(completed) / ran,
        ]
        let json = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
        print(String(decoding: json, as: UTF8.self))
        await database.shutdown()
        if completed != jobs || doneRows != jobs { fail("queue: \(completed) completed, \(doneRows) rows done, of \(jobs)") }
    } catch {
        await database.shutdown()
        throw error
    }
}

/// Each batch's key bytes (SymmetricKey itself is not Sendable).
final class KeyRing: Sendable {
    private let keys = Mutex<[String: Data]>([:])

    func key(_ batch: String) -> SymmetricKey {
        SymmetricKey(data: keys.withLock { keys in
            if let key = keys[batch] { return key }
            let key = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
            keys[batch] = key
            return key
        })
    }
}

func uploadServerCommand(_ arguments: [String]) async throws {
    guard let directory = option("--dir", in: arguments) else { fail("upload-server: --dir DIR is required") }
    guard let port = Int(option("--port", in: arguments) ?? ""), (1...65535).contains(port) else { fail("upload-server: --port P is required") }
    let logger = makeLogger()
    let store = try FileStagingStore(directory: directory + "/staging")
    let registry = try FileUploadRegistry(directory: directory + "/registry")
    let ring = KeyRing()
    let tus = TusServer<BasicRequestContext>(
        configuration: .init(maxSize: 64 << 30, expiry: 3600),
        store: store, registry: registry,
        authorize: { request, _ in
            guard let value = request.headers[.authorization], value.hasPrefix("Bearer ") else { return nil }
            return UploadOwner(String(value.dropFirst("Bearer ".count)))
        },
        batchFor: { owner, _, _ in "batch-\(owner.id)" },
        keyFor: { batch in ring.key(batch) },
        logger: logger)
    let router = Router()
    tus.addRoutes(to: router)
    let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)),
                          onServerRunning: { _ in FileHandle.standardError.write(Data("PortalBench: listening on 127.0.0.1:\(port)\n".utf8)) },
                          logger: logger)
    try await app.runService()
}

let arguments = Array(CommandLine.arguments.dropFirst())
do {
    switch arguments.first {
    case "queue": try await queueCommand(Array(arguments.dropFirst()))
    case "cluster": try await clusterCommand(Array(arguments.dropFirst()))
    case "upload-server": try await uploadServerCommand(Array(arguments.dropFirst()))
    default: fail("usage: PortalBench queue|cluster|upload-server … (see the comment at the top of main.swift)")
    }
} catch {
    fail("\(error)")
}
