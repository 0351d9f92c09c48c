namespace OciKit.Primitives;

/// <summary>
/// The base of every exception OciKit raises for bad input, a failing peer or an inconsistent store.
/// Misuse of the API (a null argument, an out-of-range option) raises the ordinary argument exceptions instead.
/// </summary>
/// <remarks>
/// The hierarchy is closed: subclasses live in this assembly and say who failed (the caller's input,
/// the registry, the network) and where. Messages never contain credentials.
/// </remarks>
public abstract class OciException : Exception
{
    /// <summary>Creates the exception with a message and an optional inner exception.</summary>
    /// <param name="message">What failed and where, without secrets.</param>
    /// <param name="innerException">The exception that caused this one, if any.</param>
    private protected OciException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }

    /// <summary>Who or what failed (see <see cref="Failure.Classify"/>).</summary>
    public abstract FailureKind Kind { get; }
}

/// <summary>
/// Input that does not follow its format: a malformed digest, reference, manifest, configuration, tar stream or layout.
/// </summary>
public sealed class OciFormatException : OciException
{
    /// <inheritdoc/>
    public override FailureKind Kind => FailureKind.Content;

    /// <summary>Creates the exception.</summary>
    /// <param name="subject">What was being read, for example <c>digest</c>, <c>manifest</c> or <c>index.json</c>.</param>
    /// <param name="message">What is wrong with it and where.</param>
    /// <param name="innerException">The underlying parser error, if any.</param>
    public OciFormatException(string subject, string message, Exception? innerException = null)
        : base($"Invalid {subject}: {message}", innerException)
    {
        Subject = subject;
    }

    /// <summary>What was being read when the error was found (for example <c>digest</c> or <c>manifest</c>).</summary>
    public string Subject { get; }
}

/// <summary>Content whose digest is not the one it was expected to have (a corrupt or substituted blob or manifest).</summary>
public sealed class DigestMismatchException : OciException
{
    /// <inheritdoc/>
    public override FailureKind Kind => FailureKind.Content;

    /// <summary>Creates the exception.</summary>
    /// <param name="subject">What was verified, for example <c>blob</c> or <c>manifest 'app:1.0'</c>.</param>
    /// <param name="expected">The digest the content should have had.</param>
    /// <param name="actual">The digest actually computed over the content.</param>
    public DigestMismatchException(string subject, Digest expected, Digest actual)
        : base($"Digest mismatch for {subject}: expected {expected}, got {actual}.")
    {
        Subject = subject;
        Expected = expected;
        Actual = actual;
    }

    /// <summary>What was verified.</summary>
    public string Subject { get; }

    /// <summary>The digest the content should have had.</summary>
    public Digest Expected { get; }

    /// <summary>The digest computed over the content.</summary>
    public Digest Actual { get; }
}

/// <summary>No image has the given name or reference where it was looked for (a local store, a registry, an index).</summary>
public sealed class ImageNotFoundException : OciException
{
    /// <inheritdoc/>
    public override FailureKind Kind => FailureKind.NotFound;

    /// <summary>Creates the exception.</summary>
    /// <param name="name">The name or reference looked for.</param>
    /// <param name="location">Where it was looked for (a store path, a registry, an index).</param>
    /// <param name="detail">Why it did not match, optional (for example the platforms an index offers).</param>
    public ImageNotFoundException(string name, string location, string? detail = null)
        : base($"No image '{name}' in {location}{(detail is null ? "." : ": " + detail)}")
    {
        Name = name;
        Location = location;
    }

    /// <summary>The name or reference looked for.</summary>
    public string Name { get; }

    /// <summary>Where it was looked for.</summary>
    public string Location { get; }
}
