// Asks SkyGeni to rescore Opportunities whose model inputs changed. Callouts are not allowed
// from triggers, so the work is handed to a Queueable (SkyGeniWebhook) that calls out.
// Risk fields are not in the watched list, so SkyGeni's own write-back never re-triggers.
trigger SkyGeniOpportunityTrigger on Opportunity (after insert, after update) {
    if (!SkyGeniWebhook.isEnabled()) {
        return;
    }
    List<Id> changed = new List<Id>();
    for (Opportunity opp : Trigger.new) {
        if (Trigger.isInsert || SkyGeniWebhook.modelInputsChanged(opp, Trigger.oldMap.get(opp.Id))) {
            changed.add(opp.Id);
        }
    }
    if (!changed.isEmpty()) {
        SkyGeniWebhook.enqueue(changed, Trigger.isInsert ? 'insert' : 'update');
    }
}
