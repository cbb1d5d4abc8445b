// LogMetrics on Azure: Event Hubs -> Functions (Flex Consumption, durable entities on
// Azure Storage) -> Azure Monitor managed Prometheus, all identity-based (no keys).
//
// One resource group per azd environment (rg-<env>). Every name derives from the azd
// environment name, so a team clone changes only `azd env new <name>` and pipeline.json.
// Layout follows Azure-Samples/functions-quickstart-dotnet-azd-eventhub, with plain
// resource declarations instead of registry modules so the files are self-contained.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; seeds the resource group, every resource name and the task hub.')
param environmentName string

@minLength(1)
@description('Primary location for all resources (must offer Flex Consumption and Azure Monitor workspaces).')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Object id of the deploying user (azd sets AZURE_PRINCIPAL_ID). Gets Event Hubs Data Sender, Table Data Contributor and Monitoring Data Reader for loading dimensions, sending test events and querying. Empty = skip.')
param principalId string = ''

@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
@description('Principal type of principalId (ServicePrincipal when a pipeline runs azd).')
param principalType string = 'User'

@minValue(1)
@maxValue(32)
@description('Event hub partition count = number of lanes the flusher waits for (LOGMETRICS_EXPECTED_LANES). Fixed after creation on Standard.')
param eventHubPartitionCount int = 8

@minValue(1)
@maxValue(7)
@description('Event hub retention in days (Standard tier allows 1-7).')
param eventHubRetentionDays int = 1

@description('NCRONTAB schedule of the timer flusher (6 fields, with seconds).')
param flushSchedule string = '*/5 * * * * *'

@minValue(1)
@description('Number of window-shard entities (LOGMETRICS_SHARD_COUNT).')
param shardCount int = 16

@description('Durable task hub name; empty = derived from the environment name (alphanumeric, starts with a letter, 3-45 chars).')
param taskHubName string = ''

@description('Flex Consumption maximum instance count.')
param maximumInstanceCount int = 100

@allowed([
  512
  2048
  4096
])
@description('Flex Consumption instance memory in MB.')
param instanceMemoryMB int = 2048

@description('E-mail address that receives the Prometheus alerts (azd: ALERT_EMAIL). Empty = alerts fire without an e-mail receiver.')
param alertEmail string = ''

var abbrs = loadJsonContent('./abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
  app: 'logmetrics'
}

// Task hub names allow only letters and digits and must start with a letter.
var envAlnum = toLower(replace(replace(replace(replace(replace(environmentName, '-', ''), '_', ''), '.', ''), '(', ''), ')', ''))
var derivedTaskHubName = take('lm${envAlnum}', 45)
var effectiveTaskHubName = empty(taskHubName) ? derivedTaskHubName : taskHubName

var functionAppName = '${abbrs.webSitesFunctions}logmetrics-${resourceToken}'
var deploymentContainerName = 'app-package-${resourceToken}'
var eventHubName = 'accesslogs'
var consumerGroupName = 'logmetrics'

resource rg 'Microsoft.Resources/resourceGroups@2025-04-01' = {
  name: '${abbrs.resourcesResourceGroups}${environmentName}'
  location: location
  tags: tags
}

// Identity the app uses for everything: storage, Event Hubs, remote write, App Insights.
module identity 'app/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: '${abbrs.managedIdentityUserAssignedIdentities}logmetrics-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: '${abbrs.storageStorageAccounts}${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
  }
}

module eventHubs 'app/eventhubs.bicep' = {
  name: 'eventhubs'
  scope: rg
  params: {
    namespaceName: '${abbrs.eventHubNamespaces}${resourceToken}'
    eventHubName: eventHubName
    consumerGroupName: consumerGroupName
    partitionCount: eventHubPartitionCount
    retentionDays: eventHubRetentionDays
    location: location
    tags: tags
  }
}

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    applicationInsightsName: '${abbrs.insightsComponents}${resourceToken}'
    location: location
    tags: tags
  }
}

// Azure Monitor workspace; its default DCE/DCR are created by the service in a
// managed resource group (MA_<workspace>_<location>_managed).
module prometheus 'app/prometheus.bicep' = {
  name: 'prometheus'
  scope: rg
  params: {
    name: '${abbrs.monitorAccounts}${resourceToken}'
    location: location
    tags: tags
  }
}

// Resolves the default DCE/DCR by id (a separate module so the ids are parameters,
// i.e. known when that deployment starts) and builds the remote-write URL.
module prometheusIngestion 'app/prometheus-ingestion.bicep' = {
  name: 'prometheus-ingestion'
  scope: rg
  params: {
    dataCollectionEndpointResourceId: prometheus.outputs.dataCollectionEndpointResourceId
    dataCollectionRuleResourceId: prometheus.outputs.dataCollectionRuleResourceId
  }
}

// Recording and alerting rules from monitoring/rules/*.rules.yml (generated: monitoring/gen_bicep_rules.py),
// evaluated on the Azure Monitor workspace, alerts to an action group that e-mails ALERT_EMAIL.
module prometheusRules 'app/prometheus-rules.bicep' = {
  name: 'prometheus-rules'
  scope: rg
  params: {
    azureMonitorWorkspaceId: prometheus.outputs.id
    actionGroupName: 'ag-logmetrics-${resourceToken}'
    alertEmail: alertEmail
    location: location
    tags: tags
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    deadLetterContainerName: storage.outputs.deadLetterContainerName
    eventHubNamespaceName: eventHubs.outputs.namespaceName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    azureMonitorWorkspaceName: prometheus.outputs.name
    dataCollectionRuleResourceId: prometheus.outputs.dataCollectionRuleResourceId
    appPrincipalId: identity.outputs.principalId
    userPrincipalId: principalId
    userPrincipalType: principalType
  }
}

module api 'app/api.bicep' = {
  name: 'api'
  scope: rg
  params: {
    name: functionAppName
    planName: '${abbrs.webServerFarms}${resourceToken}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    deadLetterContainerName: storage.outputs.deadLetterContainerName
    eventHubNamespaceName: eventHubs.outputs.namespaceName
    eventHubName: eventHubs.outputs.eventHubName
    consumerGroupName: eventHubs.outputs.consumerGroupName
    expectedLanes: eventHubPartitionCount
    taskHubName: effectiveTaskHubName
    flushSchedule: flushSchedule
    shardCount: shardCount
    remoteWriteUrl: prometheusIngestion.outputs.remoteWriteUrl
    applicationInsightsConnectionString: monitoring.outputs.applicationInsightsConnectionString
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
  }
  // Roles first, so the host does not start into 403s on its first run.
  dependsOn: [
    rbac
  ]
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output RESOURCE_GROUP string = rg.name
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = api.outputs.name
output AZURE_CLIENT_ID string = identity.outputs.clientId
output EVENTHUB_NAMESPACE string = eventHubs.outputs.namespaceName
output EVENTHUB_FQDN string = eventHubs.outputs.fullyQualifiedNamespace
output EVENTHUB_NAME string = eventHubs.outputs.eventHubName
output EVENTHUB_CONSUMER_GROUP string = eventHubs.outputs.consumerGroupName
output STORAGE_ACCOUNT_NAME string = storage.outputs.name
output DIMENSIONS_TABLE_URI string = storage.outputs.tableEndpoint
output DEADLETTER_BLOB_URI string = storage.outputs.blobEndpoint
output DEADLETTER_CONTAINER string = storage.outputs.deadLetterContainerName
output TASKHUB_NAME string = effectiveTaskHubName
output REMOTE_WRITE_URL string = prometheusIngestion.outputs.remoteWriteUrl
output AZURE_MONITOR_WORKSPACE_NAME string = prometheus.outputs.name
output AZURE_MONITOR_WORKSPACE_QUERY_ENDPOINT string = prometheus.outputs.prometheusQueryEndpoint
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
