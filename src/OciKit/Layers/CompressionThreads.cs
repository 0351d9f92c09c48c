using System.Collections.Concurrent;

namespace OciKit.Layers;

/// <summary>
/// Process-wide dedicated threads for CPU-bound compression, shared by every <see cref="ParallelGzipStream"/>; a stream
/// limits its own share with a <see cref="ConcurrentExclusiveSchedulerPair"/> on top of this scheduler.
/// </summary>
/// <remarks>
/// Not the thread pool: long CPU-bound blocks there would delay the file reads and continuations of the very pipeline
/// that feeds them (measured: 5× slower whole-layer builds on 2 cores). Not threads per stream either: a new thread
/// gets a cold native heap, so every block's zlib state (about 330 KB) was page-faulted in afresh — on 2 cores at
/// level 1 that cost more CPU than the CRC and the copy into blocks together. Threads are started on demand, up to the
/// largest degree of parallelism asked for, and end after <see cref="IdleTimeout"/> without work.
/// </remarks>
internal sealed class CompressionThreads : TaskScheduler
{
    /// <summary>How long a thread waits for work before it ends.</summary>
    public static readonly TimeSpan IdleTimeout = TimeSpan.FromSeconds(5);

    /// <summary>The scheduler every compression stream of the process shares.</summary>
    public static CompressionThreads Shared { get; } = new();

    // Never disposed: the scheduler lives as long as the process.
    private readonly BlockingCollection<Task> _tasks = [];
    private readonly Lock _lock = new();
    private int _threads;
    private int _wanted;

    private CompressionThreads()
    {
    }

    /// <summary>Lets the scheduler run up to <paramref name="count"/> threads (it never runs fewer than were asked for before).</summary>
    public void Reserve(int count)
    {
        lock (_lock)
        {
            _wanted = Math.Max(_wanted, count);
        }
    }

    /// <inheritdoc />
    protected override void QueueTask(Task task)
    {
        lock (_lock)
        {
            _tasks.Add(task);

            // The same lock guards a thread's decision to end, so a queued task never waits without a thread.
            if (_threads < Math.Max(_wanted, 1))
            {
                _threads++;
                new Thread(Work) { IsBackground = true, Name = "OciKit gzip" }.Start();
            }
        }
    }

    /// <inheritdoc />
    /// <remarks>Never inline: compression stays off the writing thread, which would otherwise compete with the workers.</remarks>
    protected override bool TryExecuteTaskInline(Task task, bool taskWasPreviouslyQueued) => false;

    /// <inheritdoc />
    protected override IEnumerable<Task> GetScheduledTasks() => _tasks.ToArray();

    private void Work()
    {
        while (true)
        {
            if (_tasks.TryTake(out var task, IdleTimeout))
            {
                TryExecuteTask(task);
                continue;
            }

            lock (_lock)
            {
                if (_tasks.Count == 0)
                {
                    _threads--;
                    return;
                }
            }
        }
    }
}
