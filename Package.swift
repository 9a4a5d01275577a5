// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "encours",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "encours", targets: ["EncoursCLI"]),
        .executable(name: "encours-worker", targets: ["EncoursWorkerCLI"]),
        .executable(name: "encours-bench", targets: ["EncoursBench"]),
        .library(name: "EncoursPostgres", targets: ["EncoursPostgres"]),
        .library(name: "EncoursQueue", targets: ["EncoursQueue"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
    ],
    targets: [
        // libpq, the PostgreSQL C client library (Debian: libpq-dev).
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"]), .brew(["libpq"])]
        ),
        // libcurl, the C transfer library used for SMTP and HTTP (Debian: libcurl4-openssl-dev).
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"]), .brew(["curl"])]
        ),
        // A serial executor on a dedicated OS thread, for blocking C calls (libpq, libcurl).
        .target(name: "EncoursThreads"),
        // A Swift wrapper over libpq; knows nothing of jobs.
        .target(
            name: "EncoursPostgres",
            dependencies: ["CLibPQ", "EncoursThreads"]
        ),
        // Delivery transports with no database: email over SMTP (libcurl), signed webhooks
        // (libcurl, HMAC-SHA256 from swift-crypto) and letters written to an outbox folder.
        .target(
            name: "EncoursDelivery",
            dependencies: [
                "CCurl", "EncoursThreads",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The numbered SQL migrations of sql/migrations, embedded in the binaries.
        .target(
            name: "EncoursMigrations",
            dependencies: ["EncoursPostgres"],
            plugins: ["EmbedMigrations"]
        ),
        // Build-time generator: turns every sql/migrations/*.sql file into Swift source.
        .executableTarget(name: "EmbedMigrationsTool"),
        .plugin(
            name: "EmbedMigrations",
            capability: .buildTool(),
            dependencies: ["EmbedMigrationsTool"]
        ),
        // Tenants and their scope: the tenants table, and the row-level-security transaction
        // (role encours_tenant, encours.tenant_id) every tenant's work runs in.
        .target(
            name: "EncoursTenancy",
            dependencies: ["EncoursPostgres"]
        ),
        // The PostgreSQL job queue: enqueue, claim, leases, retries, fairness, statistics, and
        // the worker's services. Knows nothing of invoices.
        .target(
            name: "EncoursQueue",
            dependencies: [
                "EncoursPostgres", "EncoursTenancy",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Receivables rules and CSV parsing: pure Swift, no database (money, dates, import rows).
        // Its byte-level CSV reader replaces CSV.swift, measured too slow and lossy (see README).
        .target(name: "EncoursLedger"),
        // Cron schedules in a time zone (daylight-saving changes included): pure Swift, no I/O;
        // calendar dates from the ledger's rules.
        .target(name: "EncoursSchedule", dependencies: ["EncoursLedger"]),
        // Reminder documents: Mustache templates in French and English for each dunning level,
        // amounts formatted for the language; pure Swift, no I/O.
        .target(
            name: "EncoursReminders",
            dependencies: ["EncoursLedger", .product(name: "Mustache", package: "swift-mustache")]
        ),
        // The ledger in PostgreSQL: CSV import, promises, disputes and reports, each in its tenant's scope.
        .target(
            name: "EncoursLedgerStore",
            dependencies: ["EncoursLedger", "EncoursPostgres", "EncoursTenancy"]
        ),
        // The job handlers: the catalog of kinds and the code each kind runs, joining the rules,
        // the stores and the queue.
        .target(
            name: "EncoursJobs",
            dependencies: [
                "EncoursQueue", "EncoursLedger", "EncoursLedgerStore", "EncoursReminders", "EncoursDelivery", "EncoursPostgres",
                "EncoursSchedule",
                .product(name: "Logging", package: "swift-log"), .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // What both executables need at start: logging set-up, the database URL, the metrics
        // server, the one-line error messages, and cancelling work on SIGINT/SIGTERM.
        .target(
            name: "EncoursRuntime",
            dependencies: [
                "EncoursLedger",
                "EncoursPostgres",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            plugins: ["EmbedVersion"]
        ),
        .executableTarget(name: "EmbedVersionTool"),
        .plugin(
            name: "EmbedVersion",
            capability: .buildTool(),
            dependencies: ["EmbedVersionTool"]
        ),
        // What the admin CLI does: tenants, enqueue, job inspection, ledger commands, output.
        .target(
            name: "EncoursAdmin",
            dependencies: [
                "EncoursPostgres", "EncoursQueue", "EncoursMigrations", "EncoursLedger", "EncoursLedgerStore", "EncoursTenancy",
                "EncoursJobs", "EncoursReminders", "EncoursSchedule",
            ]
        ),
        // `encours demo`: a throwaway cluster, a generated French SME ledger, real worker
        // processes through dunning, risk and disputes, and a summary.
        .target(
            name: "EncoursDemo",
            dependencies: ["EncoursAdmin", "EncoursLedger", "EncoursLedgerStore", "EncoursPostgres", "EncoursQueue", "EncoursTenancy", "EncoursReminders"]
        ),
        .executableTarget(
            name: "EncoursCLI",
            dependencies: [
                "EncoursDemo", "EncoursAdmin", "EncoursRuntime", "EncoursPostgres", "EncoursQueue", "EncoursTenancy", "EncoursLedgerStore", "EncoursJobs",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "EncoursWorkerCLI",
            dependencies: [
                "EncoursQueue", "EncoursJobs", "EncoursRuntime", "EncoursTenancy", "EncoursPostgres",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Benchmark driver (see scripts/bench and BENCHMARKS.md); build with -c release.
        .executableTarget(
            name: "EncoursBench",
            dependencies: [
                "EncoursQueue", "EncoursTenancy", "EncoursPostgres",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/EncoursBench"
        ),
        // Test helpers: a fresh migrated database per test, tenants, running the built binaries.
        .target(
            name: "EncoursTestSupport",
            dependencies: ["EncoursPostgres", "EncoursMigrations", "EncoursTenancy"]
        ),
        .testTarget(name: "EncoursPostgresTests", dependencies: ["EncoursPostgres", "EncoursTestSupport"]),
        .testTarget(
            name: "EncoursQueueTests",
            dependencies: [
                "EncoursQueue", "EncoursPostgres", "EncoursTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "EncoursLedgerTests", dependencies: ["EncoursLedger"]),
        .testTarget(name: "EncoursScheduleTests", dependencies: ["EncoursSchedule"]),
        .testTarget(name: "EncoursRemindersTests", dependencies: ["EncoursReminders", "EncoursLedger"]),
        .testTarget(name: "EncoursDeliveryTests", dependencies: ["EncoursDelivery", "EncoursTestSupport"]),
        .testTarget(
            name: "EncoursLedgerStoreTests",
            dependencies: ["EncoursLedgerStore", "EncoursLedger", "EncoursMigrations", "EncoursPostgres", "EncoursTenancy", "EncoursTestSupport"]
        ),
        .testTarget(
            name: "EncoursJobsTests",
            dependencies: [
                "EncoursJobs", "EncoursQueue", "EncoursTestSupport", "EncoursPostgres", "EncoursSchedule", "EncoursTenancy",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "EncoursAdminTests",
            dependencies: ["EncoursAdmin", "EncoursQueue", "EncoursTenancy", "EncoursLedger", "EncoursTestSupport", "EncoursPostgres"]
        ),
        .testTarget(
            name: "EncoursRuntimeTests",
            dependencies: ["EncoursRuntime", "EncoursPostgres"]
        ),
        // The built binaries, run as a user and an operator would.
        .testTarget(
            name: "EncoursEndToEndTests",
            dependencies: ["EncoursTestSupport", "EncoursPostgres", "EncoursQueue", "EncoursSchedule"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
