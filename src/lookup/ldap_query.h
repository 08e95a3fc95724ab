/*
 * ldap_query.h - moat ldap-query, an [ldap NAME] section asked by hand.
 */
#ifndef MOAT_LDAP_QUERY_H
#define MOAT_LDAP_QUERY_H

/*
 * ldap_query_main - argv after "ldap-query": [-c FILE] NAME [ADDRESS...].
 * Exit status 0: every address found or not found; 3: some got
 * tempfail; 1: configuration or setup failed; 2: usage.
 */
int ldap_query_main(int argc, char **argv);

#endif
