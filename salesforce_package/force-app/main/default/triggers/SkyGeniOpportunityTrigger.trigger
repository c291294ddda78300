// Asks SkyGeni to rescore Opportunities whose model inputs changed. Callouts are not allowed
// from triggers, so SkyGeniWebhook hands the work to a Queueable that calls out; it enqueues
// only while the transaction has a Queueable slot left and never throws into the customer's
// save. Risk fields are not watched, so SkyGeni's own write-back never re-triggers.
trigger SkyGeniOpportunityTrigger on Opportunity (after insert, after update) {
    SkyGeniWebhook.onOpportunitiesSaved(Trigger.new, Trigger.isInsert ? null : Trigger.oldMap);
}
