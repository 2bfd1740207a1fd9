import Foundation
import FlowgenCore
import FlowgenKernel
#if canImport(Glibc)
import Glibc
#endif

/// Runs a closure on a new pthread that is joined and then gone, never a pooled or shared thread.
///
/// Two testbed needs share it: `setns` switches only the calling thread, which must not outlive the job;
/// and a child process inherits the launching thread's signal mask, while Dispatch and Swift concurrency
/// worker threads block SIGTERM and friends, so children launched from them ignore `terminate()`.
enum DedicatedThread {
    /// Runs `body` on a fresh thread with an empty signal mask and returns its result; blocks until it ends.
    static func run<T>(_ body: () throws -> T) throws -> T {
        try withoutActuallyEscaping(body) { escapable in
            var result: Result<T, any Error>?
            // The closure and its result stay on this stack frame: the join below outlives the thread.
            try withoutActuallyEscaping({ result = Result { try escapable() } }) { work in
                try start(Work(work))
            }
            return try result!.get()
        }
    }

    /// Creates the thread for a type-erased job and joins it.
    private static func start(_ work: Work) throws {
        let context = Unmanaged.passRetained(work).toOpaque()
        var thread = pthread_t()
        let status = pthread_create(&thread, nil, { raw in
            let work = Unmanaged<Work>.fromOpaque(raw!).takeRetainedValue()
            var empty = sigset_t()
            sigemptyset(&empty)
            pthread_sigmask(SIG_SETMASK, &empty, nil)
            work.body()
            return nil
        }, context)
        guard status == 0 else {
            Unmanaged<Work>.fromOpaque(context).release()
            throw TestbedError.systemCall("pthread_create", errno: status)
        }
        pthread_join(thread, nil)
    }

    /// The job, boxed so it can cross pthread_create's void pointer (a C callback cannot capture generics).
    private final class Work: @unchecked Sendable {
        let body: () -> Void

        init(_ body: @escaping () -> Void) {
            self.body = body
        }
    }
}
