namespace OciKit.IntegrationTests.Harness;

/// <summary>
/// One anonymous registry shared by a test collection, holding the busybox base image at
/// <see cref="BaseRepository"/>:latest. Tests that need auth or a private registry start their own.
/// </summary>
public sealed class RegistryFixture : IAsyncLifetime
{
    /// <summary>The repository of the busybox base image.</summary>
    public const string BaseRepository = "base/busybox";

    private RegistryServer? _registry;

    /// <summary>The running registry.</summary>
    public RegistryServer Registry => _registry ?? throw new InvalidOperationException("The fixture has not started.");

    /// <summary>The digest of the base image's manifest.</summary>
    public string BaseDigest { get; private set; } = string.Empty;

    /// <summary>The base image's full reference.</summary>
    public string BaseImage => $"{Registry.Host}/{BaseRepository}:latest";

    /// <inheritdoc />
    public async Task InitializeAsync()
    {
        _registry = await RegistryServer.StartAnonymousAsync().ConfigureAwait(false);
        BaseDigest = await BusyboxImage.PushAsync(_registry, BaseRepository).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        if (_registry is not null)
        {
            await _registry.DisposeAsync().ConfigureAwait(false);
        }
    }
}

/// <summary>The collection of tests sharing one <see cref="RegistryFixture"/>.</summary>
[CollectionDefinition(Name)]
public sealed class RegistryCollection : ICollectionFixture<RegistryFixture>
{
    /// <summary>The collection name.</summary>
    public const string Name = "registry";
}
