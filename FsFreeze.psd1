@{
    # The one place the version lives: build.ps1 stamps it into the assemblies and the package.
    ModuleVersion        = '0.1.0'
    RootModule           = 'FsFreeze.dll'
    # Loaded up front so the output types ([FsFreeze.FrozenFilesystem], ...) resolve right after Import-Module.
    RequiredAssemblies   = @('FsFreeze.Core.dll')
    GUID                 = '6a0f3c1e-6a55-4f0e-9a57-3b1f6f0e2c11'
    Author               = 'FsFreeze contributors'
    CompanyName          = 'FsFreeze'
    Copyright            = '(c) FsFreeze contributors. MIT License.'
    Description          = 'Freeze and thaw mounted Linux filesystems (FIFREEZE/FITHAW) for consistent snapshots and backups, with a freeze timeout that thaws automatically when the freezer hangs or dies.'
    PowerShellVersion    = '7.4'
    CompatiblePSEditions = @('Core')
    FormatsToProcess     = @('FsFreeze.format.ps1xml')
    CmdletsToExport      = @('Invoke-FsFreeze', 'Invoke-FsThaw', 'Use-FsFreeze', 'Reset-FsFreezeTimeout', 'Get-FsFreezeStatus', 'Use-FsFreezeFleet')
    FunctionsToExport    = @()
    AliasesToExport      = @()
    VariablesToExport    = @()
    PrivateData          = @{
        PSData = @{
            Tags         = @('Linux', 'fsfreeze', 'FIFREEZE', 'backup', 'snapshot', 'storage')
            LicenseUri   = 'https://opensource.org/licenses/MIT'
            ProjectUri   = 'https://example.invalid/fsfreeze'
            ReleaseNotes = 'See README.md.'
        }
    }
}
