using System.Net;
using Polly;
using Polly.Retry;

namespace OciKit.Registry;

/// <summary>
/// The one retry policy of a <see cref="RegistryClient"/>: which failures are retried, how many times
/// (<see cref="RegistryClientOptions.MaxRetries"/>), and how long to wait before each retry (<see cref="Backoff(int)"/>, or
/// the registry's <c>Retry-After</c> on a 429 or 503, both capped by <see cref="RegistryClientOptions.RetryMaxDelay"/>).
/// Requests (<see cref="RetryHandler"/>), blob uploads (the steps of a <see cref="RegistryClient"/> upload: resume,
/// re-query the offset, restart the session) and resumed blob reads (<see cref="ResumingBlobStream"/>) all retry through it, on one Polly.Core pipeline.
/// </summary>
/// <remarks>
/// <para>
/// The pipeline is built on the first retry, never before: a caller makes its first attempt itself and hands the
/// failure to <see cref="RetryAsync{TResult, TState}"/>, whose pipeline starts from that outcome. Building the pipeline
/// validates its options through DataAnnotations reflection and its first use JIT-compiles about 200 methods: tens of
/// milliseconds of CPU that every short-lived process (a CLI command, an MSBuild task) would pay on its first request
/// although almost no request is ever retried (issue 9's profile of <c>ocikit copy</c>).
/// </para>
/// <para>
/// Retries are counted against a <see cref="RetryBudget"/> of <see cref="RegistryClientOptions.MaxRetries"/>. A plain
/// request gets its own; an operation made of several requests (an upload, a blob read that resumes) has one budget
/// that its own retries (resume, re-query the offset, restart the session) and the retries of its requests all draw
/// from, so a failing operation makes at most <see cref="RegistryClientOptions.MaxRetries"/> retries in all, not that
/// many per request per step, and the n-th retry of the operation waits the n-th delay of the one back-off.
/// </para>
/// </remarks>
internal sealed class RetryPolicy
{
    /// <summary>The budget a request's retries draw from, when it is a step of a larger operation.</summary>
    internal static readonly HttpRequestOptionsKey<RetryBudget> BudgetKey = new("OciKit.RetryBudget");

    private static readonly ResiliencePropertyKey<RetryBudget> ContextBudget = new("OciKit.RetryBudget");
    private static readonly ResiliencePropertyKey<Func<Exception, bool>> ContextRetryOn = new("OciKit.RetryOn");

    private readonly Lazy<ResiliencePipeline> _pipeline;

    /// <summary>Creates the policy; its pipeline is built only when something is first retried.</summary>
    public RetryPolicy(RegistryClientOptions options)
    {
        Options = options;
        _pipeline = new Lazy<ResiliencePipeline>(Build, LazyThreadSafetyMode.ExecutionAndPublication);
    }

    /// <summary>The options the policy follows.</summary>
    public RegistryClientOptions Options { get; }

    /// <summary>Whether the Polly pipeline has been built (only after a retryable failure).</summary>
    internal bool IsPipelineBuilt => _pipeline.IsValueCreated;

    /// <summary>A fresh budget of <see cref="RegistryClientOptions.MaxRetries"/> retries, for one request or one operation.</summary>
    public RetryBudget NewBudget() => new(Options.MaxRetries);

    /// <summary>
    /// The back-off, defined here only: the wait before retry number <paramref name="retry"/> (1-based) is
    /// <see cref="RegistryClientOptions.RetryBaseDelay"/> × 2^(retry−1), capped at
    /// <see cref="RegistryClientOptions.RetryMaxDelay"/>, times a jitter drawn uniformly from [0.5, 1) so that clients
    /// failing together do not retry together.
    /// </summary>
    public TimeSpan Backoff(int retry) => Backoff(Options, retry, Random.Shared.NextDouble());

    /// <summary>The back-off for a given jitter draw in [0, 1): the formula <see cref="Backoff(int)"/> uses.</summary>
    internal static TimeSpan Backoff(RegistryClientOptions options, int retry, double draw)
    {
        var ms = options.RetryBaseDelay.TotalMilliseconds * Math.Pow(2, Math.Max(0, retry - 1));
        ms = Math.Min(ms, options.RetryMaxDelay.TotalMilliseconds);
        return TimeSpan.FromMilliseconds(ms * (0.5 + (draw / 2)));
    }

    /// <summary>
    /// The wait before retry number <paramref name="retry"/> after <paramref name="outcome"/>: the <c>Retry-After</c> a
    /// 429 or 503 asks for (capped at <see cref="RegistryClientOptions.RetryMaxDelay"/>), else <see cref="Backoff(int)"/>.
    /// </summary>
    public TimeSpan DelayBefore(int retry, Outcome<object> outcome)
    {
        var asked = outcome switch
        {
            { Result: HttpResponseMessage { StatusCode: HttpStatusCode.TooManyRequests or HttpStatusCode.ServiceUnavailable } response } => RegistryResponses.RetryAfter(response),
            { Exception: RegistryException { StatusCode: HttpStatusCode.TooManyRequests or HttpStatusCode.ServiceUnavailable, RetryAfter: { } after } } => after,
            _ => null,
        };

        return asked is { } wait
            ? (wait < TimeSpan.Zero ? TimeSpan.Zero : wait < Options.RetryMaxDelay ? wait : Options.RetryMaxDelay)
            : Backoff(retry);
    }

    /// <summary>Whether a failure below HTTP is worth retrying: transient (see <see cref="RegistryResponses.IsTransientException"/>) and not the caller's cancellation.</summary>
    public static bool IsTransient(Exception exception, CancellationToken cancellationToken)
        => !cancellationToken.IsCancellationRequested && RegistryResponses.IsTransientException(exception);

    /// <summary>
    /// Retries an operation whose first attempt the caller made and saw fail with <paramref name="first"/>: further
    /// attempts run while the failures are retryable (an exception <paramref name="retryOn"/> accepts, or a response
    /// with a transient status) and <paramref name="budget"/> lasts, each after the policy's delay. Returns the first
    /// success, or the last outcome (a response is returned, an exception rethrown). With the budget spent before the
    /// first retry, the pipeline is not even built.
    /// </summary>
    /// <typeparam name="TResult">What an attempt returns.</typeparam>
    /// <typeparam name="TState">What an attempt needs.</typeparam>
    /// <param name="first">The failed first attempt's outcome.</param>
    /// <param name="budget">The retries left to the operation, shared with its requests.</param>
    /// <param name="retryOn">Which exceptions are retried (the caller's cancellation never is).</param>
    /// <param name="attempt">One further attempt.</param>
    /// <param name="state">Passed to <paramref name="attempt"/>.</param>
    /// <param name="cancellationToken">Stops the retries (and the wait between them).</param>
    /// <returns>The result of the attempt that succeeded or was the last.</returns>
    public async ValueTask<TResult> RetryAsync<TResult, TState>(
        Outcome<TResult> first,
        RetryBudget budget,
        Func<Exception, bool> retryOn,
        Func<TState, CancellationToken, ValueTask<TResult>> attempt,
        TState state,
        CancellationToken cancellationToken)
    {
        if (!budget.HasRemaining || cancellationToken.IsCancellationRequested)
        {
            first.ThrowIfException();
            return Abandoned(first.Result!, cancellationToken);
        }

        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        context.Properties.Set(ContextBudget, budget);
        context.Properties.Set(ContextRetryOn, retryOn);
        try
        {
            var result = await _pipeline.Value.ExecuteAsync(
                static (ctx, s) =>
                {
                    if (s.First is { } outcome)
                    {
                        // Polly's first attempt is the failure the caller already saw, so its retries start at one.
                        s.First = null;
                        outcome.ThrowIfException();
                        return ValueTask.FromResult(outcome.Result!);
                    }

                    return s.Attempt(s.State, ctx.CancellationToken);
                },
                context,
                new Attempts<TResult, TState>(first, attempt, state)).ConfigureAwait(false);
            return Abandoned(result, cancellationToken);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    /// <summary>
    /// The result, unless it is a response that would have been retried but for the caller's cancellation: then the
    /// cancellation, not the transient status, is the outcome.
    /// </summary>
    private static TResult Abandoned<TResult>(TResult result, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested && result is HttpResponseMessage response && RegistryResponses.IsTransientStatus(response.StatusCode))
        {
            response.Dispose();
            cancellationToken.ThrowIfCancellationRequested();
        }

        return result;
    }

    private static bool IsRetryable(ResilienceContext context, Outcome<object> outcome)
    {
        if (context.CancellationToken.IsCancellationRequested)
        {
            return false;
        }

        var retryable = outcome switch
        {
            { Exception: { } ex } => context.Properties.TryGetValue(ContextRetryOn, out var retryOn) && retryOn(ex),
            { Result: HttpResponseMessage response } => RegistryResponses.IsTransientStatus(response.StatusCode),
            _ => false,
        };

        return retryable && context.Properties.TryGetValue(ContextBudget, out var budget) && budget.TryTake();
    }

    private ResiliencePipeline Build() => new ResiliencePipelineBuilder { TimeProvider = Options.TimeProvider }
        .AddRetry(new RetryStrategyOptions
        {
            // The budget decides when to stop (IsRetryable takes from it); the delays are all DelayBefore's.
            MaxRetryAttempts = int.MaxValue,
            BackoffType = DelayBackoffType.Constant,
            Delay = TimeSpan.Zero,
            UseJitter = false,
            ShouldHandle = args => ValueTask.FromResult(IsRetryable(args.Context, args.Outcome)),
            DelayGenerator = args => ValueTask.FromResult<TimeSpan?>(DelayBefore(
                args.Context.Properties.TryGetValue(ContextBudget, out var budget) ? budget.Used : args.AttemptNumber + 1,
                args.Outcome)),
            OnRetry = args =>
            {
                // A transient response is not the answer: release its connection before the next attempt.
                (args.Outcome.Result as IDisposable)?.Dispose();
                return default;
            },
        })
        .Build();

    /// <summary>The attempts of one retried operation: the first outcome, handed back once, then fresh attempts.</summary>
    private sealed class Attempts<TResult, TState>(Outcome<TResult> first, Func<TState, CancellationToken, ValueTask<TResult>> attempt, TState state)
    {
        public Outcome<TResult>? First { get; set; } = first;

        public Func<TState, CancellationToken, ValueTask<TResult>> Attempt { get; } = attempt;

        public TState State { get; } = state;
    }
}

/// <summary>
/// The retries left to one request or one operation (see <see cref="RetryPolicy"/>): every retry of the operation,
/// and of each of its requests, takes one. Thread-safe.
/// </summary>
/// <param name="retries">How many retries it allows.</param>
internal sealed class RetryBudget(int retries)
{
    private int _used;

    /// <summary>How many retries have been taken.</summary>
    public int Used => Volatile.Read(ref _used);

    /// <summary>Whether another retry may be taken.</summary>
    public bool HasRemaining => Used < retries;

    /// <summary>Takes one retry, if any is left.</summary>
    /// <returns>Whether one was left.</returns>
    public bool TryTake()
    {
        while (true)
        {
            var used = Volatile.Read(ref _used);
            if (used >= retries)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _used, used + 1, used) == used)
            {
                return true;
            }
        }
    }
}
