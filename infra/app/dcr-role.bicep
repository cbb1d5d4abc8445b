// One role assignment scoped on a data collection rule. Deployed by rbac.bicep at the
// DCR's resource group (the Azure Monitor workspace's managed MA_..._managed group).
param dataCollectionRuleName string
param principalId string
param principalType string = 'ServicePrincipal'
@description('Built-in role definition GUID (rbac.bicep passes Monitoring Metrics Publisher).')
param roleDefinitionGuid string

resource dcr 'Microsoft.Insights/dataCollectionRules@2024-03-11' existing = {
  name: dataCollectionRuleName
}

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(dcr.id, principalId, roleDefinitionGuid)
  scope: dcr
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleDefinitionGuid)
    principalId: principalId
    principalType: principalType
  }
}

output id string = assignment.id
